// A feature session as POST /v1/forecast carries it (JSON): each packet's payload as base64 of the first
// CONTENT_BYTES_PER_PACKET bytes, which is all the content features read, so a request stays small and forecast
// computes from it the vector the dataset export computed from the pcap.
import { CONTENT_BYTES_PER_PACKET } from './content.ts';
import type { FeaturePacket, FeatureSession } from './features.ts';

export interface WirePacket {
  direction: number;
  tsUs: number;
  wireLength: number;
  payloadLength: number;
  tcpFlags: number;
  /** Base64 of the first CONTENT_BYTES_PER_PACKET bytes of the captured payload; absent without payload bytes. */
  payload?: string;
}

export interface WireSession {
  proto: 'tcp' | 'udp';
  clientPort: number;
  serverPort: number;
  packets: WirePacket[];
}

export function wirePacket(p: FeaturePacket): WirePacket {
  const out: WirePacket = {
    direction: p.direction,
    tsUs: p.tsUs,
    wireLength: p.wireLength,
    payloadLength: p.payloadLength,
    tcpFlags: p.tcpFlags,
  };
  const bytes = p.payload;
  if (bytes && bytes.length > 0 && p.payloadLength > 0) {
    const n = Math.min(bytes.length, p.payloadLength, CONTENT_BYTES_PER_PACKET);
    out.payload = Buffer.from(bytes.buffer, bytes.byteOffset, n).toString('base64');
  }
  return out;
}

export function wireSession(s: FeatureSession): WireSession {
  return { proto: s.proto, clientPort: s.clientPort, serverPort: s.serverPort, packets: s.packets.map(wirePacket) };
}
