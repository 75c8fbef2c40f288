// A real splitcap as the upload peer of the agent tests: started with startApp against the stack's Redis and
// RabbitMQ, under Redis and queue prefixes of its own (removed by close()), reached from a namespace through
// relays, stopped and started again on the same port to make it unreachable. What it stored is read back through
// the session store (lib/src/session-store), so a test counts the datagrams splitcap holds, not what was sent.
// FLEETCAP_SESSION_MAX_PACKETS is raised so that no datagram is cut from a session.

import { encodeSessionKey, parseAgentSessionKey, sessionKeyOf } from '@fleetcap/lib/session/key';
import {
  FROM_CLIENT,
  META,
  type PacketRecord,
  type StoredSessionName,
  sessionKeys,
} from '@fleetcap/lib/session-store/layout';
import { buildSession, type LoadedSession } from '@fleetcap/lib/session-store/reader';
import { Redis } from 'ioredis';
import { removePipelineNamespace } from './namespace.ts';
import {
  createVethPair,
  type DatagramNumbering,
  datagramIndex,
  destroy,
  sourcePortsOf,
  tcpToUnixRelay,
  unixToTcpRelay,
  type VethPair,
} from './netns.ts';
import { type RunningApp, startApp } from './processes.ts';
import { connections, uniqueId } from './stack.ts';

const DELAY_MS = 5000;

export interface StoredDatagram {
  index: number;
  /** Capture time (ms since the epoch, with µs fraction), as the sniffer's tcpdump stamped it. */
  capturedAtMs: number;
  record: PacketRecord;
}

export class SplitcapPeer {
  readonly prefix = uniqueId('agt')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 32);
  readonly token = 'agent-test-token-0123';
  private app: RunningApp | null = null;
  private port = 0;
  private readonly redis = new Redis(connections.redisUrl, { lazyConnect: true });

  /** `agents` may upload, all with `token`. */
  constructor(private readonly agents: string[]) {}

  /** Starts splitcap; again on the port of its first start. */
  async start(): Promise<void> {
    if (this.app !== null) return;
    this.app = await startApp('splitcap', {
      FLEETCAP_SPLITCAP_PORT: String(this.port),
      FLEETCAP_SPLITCAP_TOKENS: this.agents.map((a) => `${a}=${this.token}`).join(','),
      FLEETCAP_REDIS_PREFIX: this.prefix,
      FLEETCAP_QUEUE_PREFIX: this.prefix,
      FLEETCAP_SESSION_DELAY_MS: String(DELAY_MS),
      FLEETCAP_SESSION_MAX_PACKETS: '10000',
    });
    this.port = this.app.port;
  }

  /** SIGTERM: requests in flight are answered, then splitcap is unreachable until start(). */
  async stop(): Promise<void> {
    const app = this.app;
    this.app = null;
    await app?.stop();
  }

  /**
   * A TCP listener at host:port inside `ns` that reaches splitcap (in the root namespace) through a unix socket
   * of the pair's folder: `http://host:port` is the agent's splitcapUrl.
   */
  async relayFrom(pair: VethPair, ns: string, host: string, port: number): Promise<void> {
    if (this.port === 0) throw new Error('start splitcap before relaying to it');
    const sock = `${pair.dir}/splitcap-${port}.sock`;
    await unixToTcpRelay(pair, sock, '127.0.0.1', this.port);
    await tcpToUnixRelay(pair, ns, host, port, sock);
  }

  /** Batches of this agent that splitcap stored (one receipt per batch id). */
  async receipts(agent: string): Promise<number> {
    return (await this.scan(`receipt:{${agent}}:*`)).length;
  }

  /** Every session splitcap holds under this prefix, read as the session-worker reads them. */
  async sessions(): Promise<LoadedSession[]> {
    const metaKeys = await this.scan('s:*:m');
    const names = metaKeys.map((k) => {
      const { agent, key } = parseAgentSessionKey(k.slice(k.indexOf('{') + 1, k.lastIndexOf('}')));
      return { agent, key: encodeSessionKey(key) };
    });
    return (await this.read(names)).filter((s): s is LoadedSession => s !== null);
  }

  /**
   * The datagrams of a numbered stream (netns.ts) to `to`:`port` that splitcap stored, by index, in capture
   * order, in the sessions of any of its agents; `sent` is how many the stream sent to that port.
   */
  async datagrams(numbering: DatagramNumbering, to: string, port: number, sent: number): Promise<StoredDatagram[]> {
    const keys = sourcePortsOf(numbering, sent).map((p) => sessionKeyOf('udp', numbering.from, p, to, port));
    const out: StoredDatagram[] = [];
    for (const s of await this.read(this.agents.flatMap((agent) => keys.map((key) => ({ agent, key }))))) {
      if (s === null) continue;
      for (const record of s.packets) {
        const index =
          record.direction === FROM_CLIENT ? datagramIndex(numbering, s.client.port, record.payloadLength) : null;
        if (index === null)
          throw new Error(`session ${s.message.key} holds a packet of no datagram: ${JSON.stringify(record)}`);
        out.push({ index, capturedAtMs: record.tsUs / 1000, record });
      }
    }
    return out.sort((a, b) => a.record.tsUs - b.record.tsUs);
  }

  /**
   * The sum of a counter of splitcap's /metrics over the series whose labels match (a value, or a RegExp for
   * it); 0 when there is none. Counters restart with splitcap.
   */
  async metric(name: string, labels: Record<string, string | RegExp> = {}): Promise<number> {
    if (this.app === null) throw new Error('splitcap is not running');
    const text = await (await fetch(`http://127.0.0.1:${this.port}/metrics`)).text();
    let total = 0;
    for (const line of text.split('\n')) {
      const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (m === null || m[1] !== name) continue;
      const have = new Map([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]));
      const matches = Object.entries(labels).every(([k, v]) => {
        const value = have.get(k);
        return value !== undefined && (typeof v === 'string' ? value === v : v.test(value));
      });
      if (matches) total += Number(m[3]);
    }
    return total;
  }

  /** Stops splitcap and removes everything it stored (Redis keys, queues). */
  async close(): Promise<void> {
    await this.stop();
    this.redis.disconnect();
    await removePipelineNamespace(this.prefix, DELAY_MS);
  }

  private async scan(pattern: string): Promise<string[]> {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}:${pattern}`, 'COUNT', 5000);
      found.push(...keys);
      cursor = next;
    } while (cursor !== '0');
    return found;
  }

  /** These sessions, null where splitcap holds none. */
  private async read(names: StoredSessionName[]): Promise<Array<LoadedSession | null>> {
    const pipeline = this.redis.pipeline();
    for (const name of names) {
      const k = sessionKeys(name, this.prefix);
      pipeline.hgetall(k.meta);
      pipeline.zrangeBuffer(k.packets, 0, -1);
    }
    const results = (await pipeline.exec()) ?? [];
    return names.map(({ agent, key }, i) => {
      const [metaErr, meta] = results[i * 2]!;
      const [membersErr, members] = results[i * 2 + 1]!;
      if (metaErr ?? membersErr) throw metaErr ?? membersErr;
      const m = meta as Record<string, string>;
      const occurrence = m[META.occurrence];
      if (!occurrence) return null;
      const message = {
        key,
        agent,
        communityId: m[META.communityId] ?? '',
        reason: 'delay' as const,
        occurrence: Number(occurrence),
        enqueuedAt: 0,
      };
      return buildSession(message, m, members as Buffer[]);
    });
  }
}

/**
 * The agent tests' network: a veth pair (the agent in namespace A captures on devA) and `splitcap` started and
 * relayed at http://addrB:relayPort in namespace B, so that the agent's uploads cross the captured link.
 * After the test: splitcap.close(), then destroy(pair).
 */
export async function vethPairUploadingTo(splitcap: SplitcapPeer, relayPort: number): Promise<VethPair> {
  const pair = createVethPair();
  try {
    await splitcap.start();
    await splitcap.relayFrom(pair, pair.nsB, pair.addrB, relayPort);
  } catch (err) {
    destroy(pair);
    throw err;
  }
  return pair;
}
