// The fault run's traffic: per agent, batches of synthetic UDP and TCP sessions whose packets spread over a few
// consecutive batches (so later batches append to stored sessions, before and after their verdicts), some of them
// longer than the 24 packets a session keeps. Every packet is in the ledger: batch id -> packets per session.
import { buildPacket } from '@fleetcap/lib/packet/build';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from '@fleetcap/lib/packet/decode';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { sessionKeyOf } from '@fleetcap/lib/session/key';

/** A small deterministic generator (mulberry32): the same seed, the same run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface OpenSession {
  key: string;
  proto: 'tcp' | 'udp';
  client: { address: string; port: number };
  server: { address: string; port: number };
  sent: number;
  /** Packets in each of the batches still to come. */
  plan: number[];
}

export interface GeneratedBatch {
  file: Buffer;
  packets: number;
  /** Packets per session key in this batch. */
  perSession: Map<string, number>;
}

export class TrafficSource {
  private readonly random: () => number;
  private readonly open: OpenSession[] = [];
  private counter = 0;

  constructor(
    seed: number,
    /** Distinguishes agents' address ranges (0-255). */
    private readonly agentIndex: number,
  ) {
    this.random = rng(seed * 131 + agentIndex);
  }

  /** Sessions not yet given all their packets. */
  get openSessions(): number {
    return this.open.length;
  }

  /** The next batch: `newSessions` sessions start, every open session gets its next share of packets. */
  next(newSessions: number, nowUs = Date.now() * 1000): GeneratedBatch {
    for (let i = 0; i < newSessions; i++) this.open.push(this.startSession());
    const writer = new PcapWriter({ linktype: 1, nanosecond: false });
    const perSession = new Map<string, number>();
    let tsUs = nowUs;
    let packets = 0;
    for (let i = this.open.length - 1; i >= 0; i--) {
      const s = this.open[i]!;
      const n = s.plan.shift() ?? 0;
      for (let k = 0; k < n; k++) {
        writer.write(this.packet(s, tsUs));
        s.sent++;
        tsUs += 37;
      }
      if (n > 0) perSession.set(s.key, n);
      packets += n;
      if (s.plan.length === 0) this.open.splice(i, 1);
    }
    return { file: writer.toBuffer(), packets, perSession };
  }

  private startSession(): OpenSession {
    const n = this.counter++;
    const proto = this.random() < 0.5 ? 'udp' : 'tcp';
    const client = {
      address: `10.${this.agentIndex & 255}.${(n >> 8) & 255}.${(n & 255) | 1}`,
      port: 1024 + ((n * 7) % 60000),
    };
    const server = { address: '198.51.100.7', port: proto === 'tcp' ? 443 : 53 };
    // Two to four batches; one session in eight is packet-heavy (past the 24 a session keeps).
    const heavy = this.random() < 0.125;
    const batches = 2 + Math.floor(this.random() * 3);
    const plan = Array.from({ length: batches }, () => 1 + Math.floor(this.random() * (heavy ? 20 : 5)));
    return {
      key: sessionKeyOf(proto, client.address, client.port, server.address, server.port),
      proto,
      client,
      server,
      sent: 0,
      plan,
    };
  }

  private packet(s: OpenSession, tsUs: number) {
    const fromClient = s.sent % 2 === 0;
    let flags = 0;
    if (s.proto === 'tcp') {
      flags = s.sent === 0 ? TCP_SYN : s.sent === 1 ? TCP_SYN | TCP_ACK : TCP_ACK | TCP_PSH;
      if (s.plan.length === 0 && s.sent > 2 && this.random() < 0.2) flags = TCP_FIN | TCP_ACK;
    }
    const [src, dst] = fromClient ? [s.client, s.server] : [s.server, s.client];
    const frame = buildPacket({
      proto: s.proto,
      src: src.address,
      sport: src.port,
      dst: dst.address,
      dport: dst.port,
      tcpFlags: flags,
      payload: Buffer.alloc(flags & TCP_SYN ? 0 : 20 + (s.sent % 7) * 10),
    });
    return { tsSec: Math.floor(tsUs / 1e6), tsNsec: (tsUs % 1e6) * 1000, data: frame, origLen: frame.length };
  }
}
