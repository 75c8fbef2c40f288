// The ephemeral node /fleetcap/agents/<id>/live: what this agent runs and how it goes, as JSON, refreshed
// periodically and on every state change. Ephemeral, so it disappears with the listener's session; re-created on
// every new session. A node left by an earlier session of ours (a listener restarted faster than the session
// timeout) is replaced.
import type { Logger } from '@fleetcap/lib/telemetry/logger';
import type { SnifferCounters } from '@fleetcap/sniffer/ipc';
import {
  type Client,
  CreateMode,
  create,
  exists,
  isNodeExists,
  isNoNode,
  mkdirp,
  remove,
  setData,
  type ZkSession,
} from './zk.ts';

export type AgentState = 'waiting' | 'capturing' | 'error' | 'stopped';

export interface LiveStatus {
  agentId: string;
  /** The listener's pid. */
  pid: number;
  /** The pid of the sniffer capturing now, if any. */
  snifferPid: number | null;
  hostname: string;
  appliedRevision: number | null;
  state: AgentState;
  lastError: string | null;
  counters: SnifferCounters;
  updatedAt: string;
}

export function livePath(agentId: string): string {
  return `/fleetcap/agents/${agentId}/live`;
}

export class LiveNode {
  readonly path: string;
  private timer: NodeJS.Timeout | null = null;
  private registered = false;
  private publishing: Promise<void> = Promise.resolve();

  constructor(
    private readonly session: ZkSession,
    agentId: string,
    private readonly status: () => LiveStatus,
    private readonly log: Logger,
  ) {
    this.path = livePath(agentId);
    session.on('session', (client: Client) => {
      this.registered = false;
      this.publish(client);
    });
  }

  start(refreshMs: number): void {
    this.timer = setInterval(() => this.publish(), refreshMs);
  }

  /** Writes the current status now (serialized: one write at a time, the latest status wins). */
  publish(client: Client | null = this.session.current): Promise<void> {
    if (client === null) return this.publishing;
    this.publishing = this.publishing
      .then(() => this.write(client))
      .catch((err: unknown) => {
        this.log.warn({ err: String(err) }, 'could not publish the live node; will retry');
      });
    return this.publishing;
  }

  private async write(client: Client): Promise<void> {
    const data = Buffer.from(JSON.stringify(this.status()));
    if (this.registered) {
      try {
        await setData(client, this.path, data);
        return;
      } catch (err) {
        if (!isNoNode(err)) throw err;
        this.registered = false;
      }
    }
    await mkdirp(client, this.path.slice(0, this.path.lastIndexOf('/')));
    try {
      await create(client, this.path, data, CreateMode.EPHEMERAL);
    } catch (err) {
      if (!isNodeExists(err)) throw err;
      const stat = await exists(client, this.path);
      const mine = stat !== null && stat.ephemeralOwner.toString('hex') === client.getSessionId().toString('hex');
      if (!mine) {
        // Left by an earlier session of this agent that has not expired yet.
        await remove(client, this.path).catch((e: unknown) => {
          if (!isNoNode(e)) throw e;
        });
        await create(client, this.path, data, CreateMode.EPHEMERAL);
      } else {
        await setData(client, this.path, data);
      }
    }
    this.registered = true;
    this.log.info({ path: this.path, session: client.getSessionId().toString('hex') }, 'live node registered');
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
  }

  /** Deletes the node now (shutdown), rather than when the server notices the closed session. */
  async remove(): Promise<void> {
    const client = this.session.current;
    if (client === null) return;
    await this.publishing;
    await remove(client, this.path).catch(() => undefined);
    this.registered = false;
  }
}
