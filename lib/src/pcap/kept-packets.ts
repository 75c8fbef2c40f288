// The packets kept for an alert (alert_packet, written by the session-worker with the verdict row) read back and
// written as one classic pcap file: what `fleetcap pcap` writes and the console's pcap download serves. One module
// so that both give the same bytes.
import type mysql from 'mysql2/promise';
import { PcapWriter } from './writer.ts';

export interface KeptPacket {
  verdict_id: number;
  ts_us: string | number;
  wire_length: number;
  linktype: number;
  frame: Buffer;
}

export class KeptPacketsError extends Error {
  override name = 'KeptPacketsError';
}

/** The kept packets of the verdicts, in capture-time order. */
export async function keptPackets(c: Pick<mysql.Pool, 'query'>, verdictIds: number[]): Promise<KeptPacket[]> {
  if (verdictIds.length === 0) return [];
  const [rows] = await c.query(
    `SELECT verdict_id, CAST(ts_us AS CHAR) AS ts_us, wire_length, linktype, frame FROM alert_packet
     WHERE verdict_id IN (?) ORDER BY ts_us, verdict_id, packet_index`,
    [verdictIds],
  );
  return rows as KeptPacket[];
}

/** The packets as one classic pcap file (µs timestamps, as the session store keeps them). */
export function pcapOfKeptPackets(packets: KeptPacket[]): Buffer {
  const linktypes = [...new Set(packets.map((p) => p.linktype))];
  if (linktypes.length !== 1) {
    throw new KeptPacketsError(
      linktypes.length === 0
        ? 'no packets to write'
        : `the packets have several link types (${linktypes.join(', ')}): a pcap file holds one; write the sessions one at a time (by verdict id)`,
    );
  }
  const writer = new PcapWriter({ linktype: linktypes[0]!, nanosecond: false });
  for (const p of packets) {
    const us = BigInt(p.ts_us);
    writer.write({
      tsSec: Number(us / 1_000_000n),
      tsNsec: Number(us % 1_000_000n) * 1000,
      data: p.frame,
      origLen: p.wire_length,
    });
  }
  return writer.toBuffer();
}
