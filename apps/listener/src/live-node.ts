// This agent's ephemeral live node (<root>/agents/<id>/live): what it runs and how it goes, as the live status JSON
// of lib/agent/live-status, refreshed periodically and on every state change. Ephemeral, so it disappears with the
// listener's session; re-created on every (re)connection. A node left by an earlier session of ours (a listener
// restarted faster than the session timeout) is replaced.
import { encodeLiveStatus, type LiveStatus } from '@fleetcap/lib/agent/live-status';
import type { Logger } from '@fleetcap/lib/telemetry/logger';
import type { ZkClient } from '@fleetcap/lib/zookeeper/client';
import { isNodeExists, isNoNode, isZkError, ZkCode } from '@fleetcap/lib/zookeeper/errors';

export class LiveNode {
  private timer: NodeJS.Timeout | null = null;
  private registered = false;
  private publishing: Promise<void> = Promise.resolve();

  constructor(
    private readonly zk: ZkClient,
    readonly path: string,
    private readonly status: () => LiveStatus,
    private readonly log: Logger,
    /** A write refused with NO_AUTH (the agent's credential is revoked, or not the one config-sync knows). */
    private readonly onRefused: (err: unknown) => void = () => {},
  ) {
    zk.on('connected', () => {
      this.registered = false;
      void this.publish();
    });
  }

  start(refreshMs: number): void {
    this.timer = setInterval(() => this.publish(), refreshMs);
  }

  /** Writes the current status now (serialized: one write at a time, the latest status wins). */
  publish(): Promise<void> {
    // Without a connection there is nothing to write to; the next connection publishes.
    if (!this.zk.connected) return this.publishing;
    this.publishing = this.publishing
      .then(() => this.write())
      .catch((err: unknown) => {
        if (isZkError(err, ZkCode.NO_AUTH)) return this.onRefused(err);
        this.log.warn({ err: String(err) }, 'could not publish the live node; will retry');
      });
    return this.publishing;
  }

  private async write(): Promise<void> {
    const data = encodeLiveStatus(this.status());
    if (this.registered) {
      try {
        await this.zk.setData(this.path, data);
        return;
      } catch (err) {
        if (!isNoNode(err)) throw err;
        this.registered = false;
      }
    }
    try {
      await this.createUnderParent(data);
    } catch (err) {
      if (!isNodeExists(err)) throw err;
      const stat = await this.zk.exists(this.path);
      if (stat === null || !this.zk.ownsEphemeral(stat)) {
        // Left by an earlier session of this agent that has not expired yet.
        await this.zk.remove(this.path).catch((e: unknown) => {
          if (!isNoNode(e)) throw e;
        });
        await this.zk.createEphemeral(this.path, data);
      } else {
        await this.zk.setData(this.path, data);
      }
    }
    this.registered = true;
    this.log.info({ path: this.path, session: this.zk.sessionId() }, 'live node registered');
  }

  /**
   * Creates the node; its parent only when it is missing (open ACLs, development). Under ACLs config-sync has made
   * the parent, and creating the nodes above it is not this agent's to do (ZooKeeper would refuse it: NO_AUTH).
   */
  private async createUnderParent(data: Buffer): Promise<void> {
    try {
      await this.zk.createEphemeral(this.path, data);
    } catch (err) {
      if (!isNoNode(err)) throw err;
      await this.zk.mkdirp(this.path.slice(0, this.path.lastIndexOf('/')));
      await this.zk.createEphemeral(this.path, data);
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
  }

  /** Deletes the node now (shutdown), rather than when the server notices the closed session. */
  async remove(): Promise<void> {
    if (!this.zk.connected) return;
    await this.publishing;
    await this.zk.remove(this.path).catch(() => undefined);
    this.registered = false;
  }
}
