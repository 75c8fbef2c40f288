// Synthetic captures for tests and benchmarks: TCP and UDP sessions built packet by packet with the
// project's packet builder and pcap writer. Addresses are only bytes in a file; nothing is sent.

import { buildPacket } from '@fleetcap/lib/packet/build';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from '@fleetcap/lib/packet/decode';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { sessionKeyOf } from '@fleetcap/lib/session/key';

export interface SyntheticSession {
  key: string;
  proto: 'tcp' | 'udp';
  client: { address: string; port: number };
  server: { address: string; port: number };
  packets: number;
  bytes: number;
  closes: boolean;
  firstUs: number;
  lastUs: number;
}

export interface SyntheticSpec {
  proto: 'tcp' | 'udp';
  packets: number;
  /** TCP: end with FIN from the client. */
  close?: boolean;
}

/**
 * Builds one pcap holding the given sessions, their packets interleaved in time order. `seed` picks the
 * client addresses and ports, so different seeds give different session keys.
 */
export function syntheticCapture(
  specs: SyntheticSpec[],
  seed: number,
  startUs = Date.now() * 1000,
): {
  pcap: Buffer;
  sessions: SyntheticSession[];
} {
  const events: Array<{ tsUs: number; frame: Buffer; wire: number }> = [];
  const sessions: SyntheticSession[] = specs.map((spec, i) => {
    const client = {
      address: `10.${(seed >> 8) & 255}.${seed & 255}.${(i % 250) + 1}`,
      port: 20000 + ((seed * 7919 + i) % 40000),
    };
    const server = { address: '192.0.2.10', port: spec.proto === 'tcp' ? 443 : 53 };
    let tsUs = startUs + i * 100;
    let bytes = 0;
    const first = tsUs;
    for (let n = 0; n < spec.packets; n++) {
      const fromClient = n % 2 === 0;
      let flags = 0;
      if (spec.proto === 'tcp') {
        flags = n === 0 ? TCP_SYN : n === 1 ? TCP_SYN | TCP_ACK : n === 2 ? TCP_ACK : TCP_ACK | TCP_PSH;
        if (spec.close && n === spec.packets - 1) flags = TCP_FIN | TCP_ACK;
      }
      const payload = Buffer.alloc(flags & TCP_SYN ? 0 : 10 + ((n * 37) % 200));
      const [src, dst] = fromClient ? [client, server] : [server, client];
      const frame = buildPacket({
        proto: spec.proto,
        src: src.address,
        sport: src.port,
        dst: dst.address,
        dport: dst.port,
        tcpFlags: flags,
        payload,
      });
      events.push({ tsUs, frame, wire: frame.length });
      bytes += frame.length;
      tsUs += 1000 + ((n * 131) % 5000);
    }
    return {
      key: sessionKeyOf(spec.proto, client.address, client.port, server.address, server.port),
      proto: spec.proto,
      client,
      server,
      packets: spec.packets,
      bytes,
      closes: spec.proto === 'tcp' && spec.close === true,
      firstUs: first,
      lastUs: tsUs - 1000 - (((spec.packets - 1) * 131) % 5000),
    };
  });
  events.sort((a, b) => a.tsUs - b.tsUs);
  const writer = new PcapWriter({ linktype: 1, nanosecond: false });
  for (const e of events) {
    writer.write({ tsSec: Math.floor(e.tsUs / 1e6), tsNsec: (e.tsUs % 1e6) * 1000, data: e.frame, origLen: e.wire });
  }
  return { pcap: writer.toBuffer(), sessions };
}

export interface SyntheticPacket {
  fromClient: boolean;
  /** Capture time, µs since the epoch. */
  tsUs: number;
  /** TCP flags (ignored for UDP); default ACK|PSH. */
  tcpFlags?: number;
  payloadBytes?: number;
}

/**
 * More packets of a session syntheticCapture made (a later batch of the same conversation, e.g. a RST), as a pcap
 * of their own; `bytes` is their length on the wire.
 */
export function syntheticPackets(
  session: SyntheticSession,
  packets: SyntheticPacket[],
): { pcap: Buffer; bytes: number } {
  const writer = new PcapWriter({ linktype: 1, nanosecond: false });
  let bytes = 0;
  for (const p of packets) {
    const [src, dst] = p.fromClient ? [session.client, session.server] : [session.server, session.client];
    const frame = buildPacket({
      proto: session.proto,
      src: src.address,
      sport: src.port,
      dst: dst.address,
      dport: dst.port,
      tcpFlags: session.proto === 'tcp' ? (p.tcpFlags ?? TCP_ACK | TCP_PSH) : 0,
      payload: Buffer.alloc(p.payloadBytes ?? 0),
    });
    bytes += frame.length;
    writer.write({
      tsSec: Math.floor(p.tsUs / 1e6),
      tsNsec: (p.tsUs % 1e6) * 1000,
      data: frame,
      origLen: frame.length,
    });
  }
  return { pcap: writer.toBuffer(), bytes };
}
