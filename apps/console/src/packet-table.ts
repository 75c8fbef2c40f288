// The kept packets of a session as table rows: time, direction, addresses, ports, flags, lengths, a payload preview.
// Decoded with the pipeline's own decoder (lib/src/packet/decode.ts), so the table shows what splitcap saw.
import { DecodedPacket, decodePacket } from '@fleetcap/lib/packet/decode';

export interface PacketLine {
  index: number;
  time: string;
  /** Seconds since the session's first kept packet. */
  offset: string;
  src: string;
  dst: string;
  proto: string;
  flags: string;
  wireLength: number;
  captured: number;
  payload: number;
  preview: string;
  problem?: string;
}

const FLAG_NAMES: Array<[number, string]> = [
  [0x02, 'S'],
  [0x10, 'A'],
  [0x08, 'P'],
  [0x01, 'F'],
  [0x04, 'R'],
  [0x20, 'U'],
  [0x40, 'E'],
  [0x80, 'C'],
];

export function tcpFlags(flags: number): string {
  return FLAG_NAMES.filter(([bit]) => flags & bit)
    .map(([, name]) => name)
    .join('');
}

/** Printable ASCII of the payload's first bytes, dots for the rest (as tshark's hex dump shows it). */
export function payloadPreview(bytes: Uint8Array, from: number, to: number, max = 48): string {
  let out = '';
  for (let i = from; i < Math.min(to, from + max); i++) {
    const b = bytes[i]!;
    out += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
  }
  return out;
}

function isoMicros(us: bigint): string {
  const ms = us / 1000n;
  const iso = new Date(Number(ms)).toISOString();
  return `${iso.slice(0, 19)}.${(us % 1_000_000n).toString().padStart(6, '0')}Z`;
}

export function packetLines(
  packets: Array<{ packet_index: number; ts_us: string; wire_length: number; linktype: number; frame: Buffer }>,
): PacketLine[] {
  const first = packets.length > 0 ? BigInt(packets[0]!.ts_us) : 0n;
  const d = new DecodedPacket();
  return packets.map((p) => {
    const us = BigInt(p.ts_us);
    const line: PacketLine = {
      index: p.packet_index,
      time: isoMicros(us),
      offset: (Number(us - first) / 1e6).toFixed(6),
      src: '',
      dst: '',
      proto: '',
      flags: '',
      wireLength: p.wire_length,
      captured: p.frame.length,
      payload: 0,
      preview: '',
    };
    const skipped = decodePacket(p.linktype, p.frame, d, p.wire_length);
    if (skipped !== null) return { ...line, problem: skipped };
    const ep = (addr: string, port: number) => (addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`);
    return {
      ...line,
      src: ep(d.src, d.sport),
      dst: ep(d.dst, d.dport),
      proto: d.proto,
      flags: d.proto === 'tcp' ? tcpFlags(d.tcpFlags) : '',
      payload: d.payloadLength,
      preview: payloadPreview(d.bytes, d.payloadAt, d.payloadEnd),
    };
  });
}
