// Internet checksums (RFC 1071) of a decoded packet, as Zeek verifies them before it lets a packet change a
// connection's state: Zeek marks a TCP/UDP packet with a bad checksum as 'c' in the history and, for TCP and ICMP,
// ignores it otherwise. Captures taken on the sending host often carry checksums the NIC was to fill in (offload),
// which is why Zeek has `-C` and why verifying is an option here.
import { type DecodedPacket, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../packet/decode.ts';

function sum16(bytes: Uint8Array, from: number, to: number, initial: number): number {
  let sum = initial;
  let i = from;
  for (; i + 1 < to; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < to) sum += bytes[i]! << 8;
  return sum;
}

function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** True when the IPv4 header checksum is right (IPv6 has none). */
export function ipHeaderChecksumOk(packet: DecodedPacket): boolean {
  if (packet.ipVersion !== 4) return true;
  const at = packet.ipOffset;
  const headerLength = (packet.bytes[at]! & 0x0f) * 4;
  return fold(sum16(packet.bytes, at, at + headerLength, 0)) === 0xffff;
}

export type ChecksumVerdict = 'ok' | 'bad' | 'unchecked';

/**
 * The transport checksum of a TCP, UDP, ICMP or ICMPv6 packet. 'unchecked' when the transport is not wholly captured
 * (a snapshot length cut it), for other protocols, and for IPv4 UDP sent without a checksum (0).
 */
export function transportChecksum(packet: DecodedPacket): ChecksumVerdict {
  const protocol = packet.ipProtocol;
  if (
    protocol !== IPPROTO_TCP &&
    protocol !== IPPROTO_UDP &&
    protocol !== IPPROTO_ICMP &&
    protocol !== IPPROTO_ICMPV6
  ) {
    return 'unchecked';
  }
  const bytes = packet.bytes;
  const at = packet.transportAt;
  const length = packet.transportLength;
  if (length <= 0 || at + length > packet.capturedEnd) return 'unchecked';
  if (protocol === IPPROTO_UDP && packet.ipVersion === 4 && bytes[at + 6] === 0 && bytes[at + 7] === 0) {
    return 'unchecked';
  }
  let sum = 0;
  if (protocol !== IPPROTO_ICMP) {
    const addressLength = packet.addressLength;
    sum = sum16(bytes, packet.srcAt, packet.srcAt + addressLength, sum);
    sum = sum16(bytes, packet.dstAt, packet.dstAt + addressLength, sum);
    sum += protocol + (length & 0xffff) + Math.floor(length / 0x10000);
  }
  sum = sum16(bytes, at, at + length, sum);
  return fold(sum) === 0xffff ? 'ok' : 'bad';
}
