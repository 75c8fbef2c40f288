// Reads /fleetcap/agents/<id>/config and watches it. ZooKeeper watches fire once, so every read sets the next
// watch; a read that finds no node sets an exists-watch instead, to learn when the node is created. Every (re)connect
// reads again, because a change made while we were disconnected may have been missed. Stale watch callbacks (from
// an earlier read or an earlier session) are ignored by generation number.
import { EventEmitter } from 'node:events';
import { type Client, exists, getData, isNoNode, type ZkSession } from './zk.ts';

export type ConfigEvent = { kind: 'config'; text: string; version: number } | { kind: 'missing' } | { kind: 'deleted' };

export function configPath(agentId: string): string {
  return `/fleetcap/agents/${agentId}/config`;
}

export class ConfigWatch extends EventEmitter {
  private generation = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  /** Whether the last read found the node (to tell "deleted" from "not created yet"). */
  private present: boolean | null = null;
  readonly path: string;

  constructor(
    private readonly session: ZkSession,
    agentId: string,
  ) {
    super();
    this.path = configPath(agentId);
    session.on('session', (client: Client) => this.read(client));
  }

  private read(client: Client): void {
    const gen = ++this.generation;
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    const again = () => {
      if (gen !== this.generation) return;
      const c = this.session.current;
      if (c !== null) this.read(c);
    };
    getData(client, this.path, again).then(
      ({ data, stat }) => {
        if (gen !== this.generation) return;
        this.present = true;
        this.emit('event', {
          kind: 'config',
          text: data?.toString('utf8') ?? '',
          version: stat.version,
        } satisfies ConfigEvent);
      },
      (err: unknown) => {
        if (gen !== this.generation) return;
        if (!isNoNode(err)) return this.retryLater(gen, err);
        exists(client, this.path, again).then(
          (stat) => {
            if (gen !== this.generation) return;
            if (stat !== null) return again(); // created between the two calls
            const kind = this.present === true ? 'deleted' : 'missing';
            this.present = false;
            this.emit('event', { kind } satisfies ConfigEvent);
          },
          (err2: unknown) => this.retryLater(gen, err2),
        );
      },
    );
  }

  /** Connection loss in the middle of a read: try again shortly (a reconnect also reads again). */
  private retryLater(gen: number, err: unknown): void {
    if (gen !== this.generation) return;
    this.emit('readError', err);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      const c = this.session.current;
      if (gen === this.generation && c !== null) this.read(c);
    }, 500);
  }

  stop(): void {
    this.generation++;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
  }
}
