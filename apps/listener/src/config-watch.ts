// Reads this agent's config node (<root>/agents/<id>/config) and watches it. ZooKeeper watches fire once, so every
// read sets the next watch; a read that finds no node sets an exists-watch instead, to learn when the node is
// created. Every (re)connect reads again, because a change made while we were disconnected may have been missed.
// Stale watch callbacks (from an earlier read or an earlier session) are ignored by generation number.
import { EventEmitter } from 'node:events';
import type { ZkClient } from '@fleetcap/lib/zookeeper/client';

export type ConfigEvent = { kind: 'config'; text: string; version: number } | { kind: 'missing' } | { kind: 'deleted' };

export class ConfigWatch extends EventEmitter {
  private generation = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  /** Whether the last read found the node (to tell "deleted" from "not created yet"). */
  private present: boolean | null = null;

  constructor(
    private readonly zk: ZkClient,
    readonly path: string,
  ) {
    super();
    zk.on('connected', () => this.read());
  }

  private read(): void {
    const gen = ++this.generation;
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    const again = () => {
      if (gen !== this.generation) return;
      if (this.zk.connected) this.read();
    };
    this.zk.getData(this.path, again).then(
      (node) => {
        if (gen !== this.generation) return;
        if (node !== null) {
          this.present = true;
          this.emit('event', {
            kind: 'config',
            text: node.data?.toString('utf8') ?? '',
            version: node.stat.version,
          } satisfies ConfigEvent);
          return;
        }
        this.zk.exists(this.path, again).then(
          (stat) => {
            if (gen !== this.generation) return;
            if (stat !== null) return again(); // created between the two calls
            const kind = this.present === true ? 'deleted' : 'missing';
            this.present = false;
            this.emit('event', { kind } satisfies ConfigEvent);
          },
          (err: unknown) => this.retryLater(gen, err),
        );
      },
      (err: unknown) => this.retryLater(gen, err),
    );
  }

  /** Connection loss in the middle of a read: try again shortly (a reconnect also reads again). */
  private retryLater(gen: number, err: unknown): void {
    if (gen !== this.generation) return;
    this.emit('readError', err);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (gen === this.generation && this.zk.connected) this.read();
    }, 500);
  }

  stop(): void {
    this.generation++;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
  }
}
