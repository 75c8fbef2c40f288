// Mirrors the agents' ephemeral live nodes (<root>/agents/<id>/live, written by the listener) into agent_status:
// a children watch on <root>/agents finds agents, an exists watch per agent (re-armed every time it fires) sees
// its live node appear, change and vanish. A vanished live node (the listener's session closed) makes the agent
// offline. A periodic resync, and a full re-arm after a new ZooKeeper session, repair anything a lost watch missed.
import { parseLiveStatus } from '@fleetcap/lib/agent/live-status';
import type { AgentPaths } from '@fleetcap/lib/agent/paths';
import type { Watcher, ZkClient } from '@fleetcap/lib/zookeeper/client';
import type { StatusStore } from './agent-status.ts';

/** The ZooKeeper calls the status mirror makes (an in-memory fake implements them in the unit tests). */
export type StatusZk = Pick<ZkClient, 'exists' | 'getData' | 'getChildren' | 'mkdirp'> & {
  on(event: 'session', fn: () => void): unknown;
};

export interface StatusMirrorLogger {
  debug: (obj: object, msg: string) => void;
  warn: (obj: object, msg: string) => void;
}

export interface StatusMirrorMetrics {
  statusWrite: (kind: 'online' | 'offline') => void;
  statusError: () => void;
}

interface Watched {
  watcher: Watcher;
  running: boolean;
  again: boolean;
  /** What we last wrote for it (null: nothing yet). Offline is written on a transition only. */
  online: boolean | null;
}

export class StatusMirror {
  private readonly agents = new Map<string, Watched>();
  private readonly childrenWatcher: Watcher = () => this.schedule(() => this.refreshChildren());
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly zk: StatusZk,
    private readonly paths: AgentPaths,
    private readonly store: StatusStore,
    private readonly log: StatusMirrorLogger,
    private readonly metrics?: StatusMirrorMetrics,
    private readonly resyncMs = 30_000,
  ) {}

  async start(): Promise<void> {
    this.zk.on('session', () => this.schedule(() => this.resync()));
    await this.zk.mkdirp(this.paths.agents);
    // A first pass that fails (MariaDB not up yet) is not fatal: the periodic resync retries it.
    await this.resync().catch((err: Error) => {
      this.metrics?.statusError();
      this.log.warn({ err: err.message }, 'status mirror: first pass failed; the next resync retries');
    });
    this.timer = setInterval(() => this.schedule(() => this.resync()), this.resyncMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  private schedule(fn: () => Promise<void>): void {
    if (this.stopped) return;
    fn().catch((err: Error) => {
      this.metrics?.statusError();
      this.log.warn({ err: err.message }, 'status mirror: ZooKeeper or MariaDB call failed; the next resync retries');
    });
  }

  /** Re-arms every watch, re-reads every live node, and sets offline agents that agent_status still shows online. */
  async resync(): Promise<void> {
    await this.refreshChildren();
    await Promise.all([...this.agents.keys()].map((id) => this.refreshAgent(id)));
    // agent_status rows that say online while no live node exists (written by an instance that lost a race, or
    // left from before a restart).
    const online = await this.store.onlineAgents();
    for (const id of online) {
      if (this.agents.get(id)?.online) continue;
      await this.store.markOffline(id);
      this.metrics?.statusWrite('offline');
    }
  }

  private async refreshChildren(): Promise<void> {
    const children = await this.zk.getChildren(this.paths.agents, this.childrenWatcher);
    if (children === null) {
      // Someone removed <root>/agents: create it again so that the children watch can be armed.
      await this.zk.mkdirp(this.paths.agents);
      return this.refreshChildren();
    }
    const present = new Set(children);
    for (const id of children) {
      if (!this.agents.has(id)) {
        const watched: Watched = {
          watcher: () => this.refreshAgentSoon(id),
          running: false,
          again: false,
          online: null,
        };
        this.agents.set(id, watched);
        this.refreshAgentSoon(id);
      }
    }
    for (const id of [...this.agents.keys()]) {
      if (present.has(id)) continue;
      this.agents.delete(id);
      await this.store.markOffline(id);
    }
  }

  private refreshAgentSoon(id: string): void {
    this.schedule(() => this.refreshAgent(id));
  }

  /** Reads one agent's live node (arming the exists watch first); one read at a time per agent, coalesced. */
  private async refreshAgent(id: string): Promise<void> {
    const watched = this.agents.get(id);
    if (!watched) return;
    if (watched.running) {
      watched.again = true;
      return;
    }
    watched.running = true;
    try {
      do {
        watched.again = false;
        await this.readLive(id, watched);
      } while (watched.again && !this.stopped);
    } finally {
      watched.running = false;
    }
  }

  private async readLive(id: string, watched: Watched): Promise<void> {
    const path = this.paths.live(id);
    // exists() arms a watch whether or not the node exists: it fires on create, data change and delete.
    const stat = await this.zk.exists(path, watched.watcher);
    const node = stat ? await this.zk.getData(path) : null;
    if (node) {
      const live = parseLiveStatus(node.data);
      await this.store.upsertLive(id, live);
      watched.online = true;
      this.metrics?.statusWrite('online');
      this.log.debug({ agentId: id, live }, 'agent online');
    } else if (watched.online !== false) {
      await this.store.markOffline(id);
      watched.online = false;
      this.metrics?.statusWrite('offline');
      this.log.debug({ agentId: id }, 'agent offline');
    }
  }
}
