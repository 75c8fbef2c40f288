// Decodes the link, IP and transport headers of one captured packet into the fields sessionizing needs.
// Only TCP and UDP over IPv4/IPv6 come out as a DecodedPacket; everything else is a skip with a reason, so that
// callers can count what they did not sessionize. A packet of another transport ('other-l4') still gets its network
// fields (addresses, IP length) and, for ICMP/ICMPv6 and SCTP, the type/code or ports, for the session record.
// Reads bytes by index (no DataView, no regex, no allocation
// beyond the address strings, which are built only on demand) because it runs once per packet on the ingest path.
import { formatIPv4, formatIPv6 } from './address.ts';

export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
/** DLT_RAW as most BSDs number it, found in old files. */
export const LINKTYPE_RAW_BSD = 12;
/** DLT_RAW as OpenBSD numbers it, found in old files. */
export const LINKTYPE_RAW_OPENBSD = 14;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LOOP = 108;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

export const SUPPORTED_LINKTYPES: ReadonlySet<number> = new Set([
  LINKTYPE_NULL,
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW_BSD,
  LINKTYPE_RAW_OPENBSD,
  LINKTYPE_RAW,
  LINKTYPE_LOOP,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL2,
]);

export const SKIP_REASONS = [
  'unsupported-linktype',
  'not-ip',
  'other-l4',
  'truncated',
  'fragment',
  'malformed',
  // Not the decoder's: the capture time is outside the accepted window (lib/src/pcap/capture-time.ts).
  'time-out-of-range',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export type TransportProtocol = 'tcp' | 'udp';

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const ETHERTYPE_QINQ_OLD = 0x9100;
/** More stacked VLAN tags than this is not a real frame. */
const MAX_VLAN_TAGS = 8;
/** Each IPv6 extension header takes at least 8 bytes, so the chain is bounded by the packet; this is tighter. */
export const MAX_IPV6_EXTENSION_HEADERS = 32;
const ARPHRD_NETLINK = 824;
const BSD_AF_INET = 2;
const BSD_AF_INET6_BSD = 24;
const BSD_AF_INET6_FREEBSD = 28;
const BSD_AF_INET6_DARWIN = 30;
const IPPROTO_HOPOPTS = 0;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
const IPPROTO_ROUTING = 43;
const IPPROTO_FRAGMENT = 44;
const IPPROTO_AH = 51;
export const IPPROTO_ICMPV6 = 58;
const IPPROTO_NONE = 59;
const IPPROTO_DSTOPTS = 60;
export const IPPROTO_SCTP = 132;

const EMPTY_BYTES = new Uint8Array(0);

/** Fields of one TCP or UDP packet. Reused between packets by decodePacket's callers that care about speed. */
export class DecodedPacket {
  proto: TransportProtocol = 'tcp';
  ipVersion: 4 | 6 = 4;
  sport = 0;
  dport = 0;
  /** TCP flags byte (FIN 0x01 … CWR 0x80); 0 for UDP. */
  tcpFlags = 0;
  /** Transport payload length according to the IP and transport headers (not what was captured). */
  payloadLength = 0;
  /** TCP sequence number (unsigned 32-bit); 0 for UDP. */
  tcpSeq = 0;
  /** Where the transport payload starts in `bytes`, and where its captured part ends (a snapshot may cut it). */
  payloadAt = 0;
  payloadEnd = 0;
  /** IPv4 TTL or IPv6 hop limit. */
  ipTtl = 0;
  /** IP protocol number of the transport header, also set when the packet is skipped as 'other-l4'. */
  ipProtocol = 0;
  /** Index of the IP header in `bytes` (the captured data, or the range of it that was decoded). */
  ipOffset = 0;
  /** Length of the IP packet as its header says (IPv4 total length, IPv6 40 + payload length), what Zeek counts. */
  ipLength = 0;
  /** Index of the transport header in `bytes`; also set for 'other-l4' skips that got that far. */
  transportAt = 0;
  /** Transport header plus payload length according to the IP header (not what was captured). */
  transportLength = 0;
  /** Index one past the last captured byte of this packet in `bytes`. */
  capturedEnd = 0;
  /** ICMP/ICMPv6 type and code ('other-l4' skips of protocol 1 or 58 with the two bytes captured), else -1. */
  icmpType = -1;
  icmpCode = -1;
  /** The captured bytes the addresses are read from, and where: the text forms are built only when asked for. */
  bytes: Uint8Array = EMPTY_BYTES;
  /** Offset of the source address in `bytes` (4 bytes for IPv4, 16 for IPv6). */
  srcAt = 0;
  /** Offset of the destination address in `bytes`; for IPv6 the routing header's final destination if any. */
  dstAt = 0;
  private srcText: string | undefined;
  private dstText: string | undefined;

  /** Source address: dotted IPv4 or RFC 5952 IPv6. */
  get src(): string {
    this.srcText ??= this.ipVersion === 4 ? formatIPv4(this.bytes, this.srcAt) : formatIPv6(this.bytes, this.srcAt);
    return this.srcText;
  }

  /** Destination address: dotted IPv4 or RFC 5952 IPv6. */
  get dst(): string {
    this.dstText ??= this.ipVersion === 4 ? formatIPv4(this.bytes, this.dstAt) : formatIPv6(this.bytes, this.dstAt);
    return this.dstText;
  }

  /** TCP acknowledgement number (TCP only). */
  get tcpAck(): number {
    return u32(this.bytes, this.transportAt + 8);
  }

  /** TCP window field, unscaled (TCP only). */
  get tcpWindow(): number {
    return u16(this.bytes, this.transportAt + 14);
  }

  /** Length of each address in bytes. */
  get addressLength(): 4 | 16 {
    return this.ipVersion === 4 ? 4 : 16;
  }

  /** @internal Called by decodePacket once the addresses are known. */
  setAddresses(bytes: Uint8Array, srcAt: number, dstAt: number): void {
    this.bytes = bytes;
    this.srcAt = srcAt;
    this.dstAt = dstAt;
    this.srcText = undefined;
    this.dstText = undefined;
  }
}

function u16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/**
 * Decodes the captured bytes of a packet of link type `linktype` into `out`: `data[start, end)`, by default all of
 * `data` (the range form lets a reader decode in place, without a view per packet). Returns null on success or the
 * reason the packet is not a TCP/UDP packet we sessionize; `out` is then partly written and must be ignored.
 * `wireLength` is the packet's original length, used like tshark does to tell a snapshot cut from a lying header.
 */
export function decodePacket(
  linktype: number,
  data: Uint8Array,
  out: DecodedPacket,
  wireLength?: number,
  start = 0,
  end = data.length,
): SkipReason | null {
  const length = end - start;
  // Absolute index where the packet would end had it been captured whole.
  const reported = start + Math.max(wireLength ?? length, length);
  const s = start;
  switch (linktype) {
    case LINKTYPE_ETHERNET: {
      if (length < 14) return 'truncated';
      const type = u16(data, s + 12);
      if (type <= 1500) {
        // 802.3 length field: IP only travels here inside LLC/SNAP with a zero OUI.
        if (length < 22) return 'not-ip';
        if (data[s + 14] !== 0xaa || data[s + 15] !== 0xaa || data[s + 16] !== 0x03) return 'not-ip';
        if (data[s + 17] !== 0 || data[s + 18] !== 0 || data[s + 19] !== 0) return 'not-ip';
        return decodeEthertype(data, s + 22, end, u16(data, s + 20), reported, out);
      }
      return decodeEthertype(data, s + 14, end, type, reported, out);
    }
    case LINKTYPE_LINUX_SLL: {
      if (length < 16) return 'truncated';
      if (u16(data, s + 2) === ARPHRD_NETLINK) return 'not-ip';
      return decodeEthertype(data, s + 16, end, u16(data, s + 14), reported, out);
    }
    case LINKTYPE_LINUX_SLL2: {
      if (length < 20) return 'truncated';
      if (u16(data, s + 8) === ARPHRD_NETLINK) return 'not-ip';
      return decodeEthertype(data, s + 20, end, u16(data, s), reported, out);
    }
    case LINKTYPE_RAW:
    case LINKTYPE_RAW_BSD:
    case LINKTYPE_RAW_OPENBSD: {
      if (length < 1) return 'truncated';
      const version = data[s]! >> 4;
      if (version === 4) return decodeIPv4(data, s, end, reported, out);
      if (version === 6) return decodeIPv6(data, s, end, reported, out);
      return 'not-ip';
    }
    case LINKTYPE_IPV4:
      return decodeIPv4(data, s, end, reported, out);
    case LINKTYPE_IPV6:
      return decodeIPv6(data, s, end, reported, out);
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP: {
      if (length < 4) return 'truncated';
      // DLT_NULL stores the address family in the capturing host's byte order, DLT_LOOP in network order, and
      // files of both kinds exist written the other way: the family is small, so the non-zero half tells.
      let family = (data[s]! | (data[s + 1]! << 8) | (data[s + 2]! << 16) | (data[s + 3]! << 24)) >>> 0;
      if (family > 0xffff)
        family = ((data[s]! << 24) | (data[s + 1]! << 16) | (data[s + 2]! << 8) | data[s + 3]!) >>> 0;
      if (family === BSD_AF_INET) return decodeIPv4(data, s + 4, end, reported, out);
      if (family === BSD_AF_INET6_BSD || family === BSD_AF_INET6_FREEBSD || family === BSD_AF_INET6_DARWIN) {
        return decodeIPv6(data, s + 4, end, reported, out);
      }
      return 'not-ip';
    }
    default:
      return 'unsupported-linktype';
  }
}

function decodeEthertype(
  data: Uint8Array,
  at: number,
  end: number,
  type: number,
  reported: number,
  out: DecodedPacket,
) {
  let offset = at;
  let ethertype = type;
  for (let tags = 0; ; tags++) {
    if (ethertype === ETHERTYPE_IPV4) return decodeIPv4(data, offset, end, reported, out);
    if (ethertype === ETHERTYPE_IPV6) return decodeIPv6(data, offset, end, reported, out);
    if (ethertype !== ETHERTYPE_VLAN && ethertype !== ETHERTYPE_QINQ && ethertype !== ETHERTYPE_QINQ_OLD) {
      return 'not-ip';
    }
    if (tags >= MAX_VLAN_TAGS) return 'malformed';
    if (offset + 4 > end) return 'truncated';
    ethertype = u16(data, offset + 2);
    offset += 4;
  }
}

function decodeIPv4(
  data: Uint8Array,
  at: number,
  end: number,
  reported: number,
  out: DecodedPacket,
): SkipReason | null {
  if (at >= end) return 'truncated';
  const versionAndLength = data[at]!;
  if (versionAndLength >> 4 !== 4) return 'malformed';
  if (at + 20 > end) return 'truncated';
  const headerLength = (versionAndLength & 0x0f) * 4;
  if (headerLength < 20) return 'malformed';
  let totalLength = u16(data, at + 2);
  // Zero is what TCP segmentation offload leaves in captures taken on the sending host.
  if (totalLength === 0) totalLength = reported - at;
  if (totalLength < headerLength) return 'malformed';
  if (at + headerLength > end) return 'truncated';
  out.ipProtocol = data[at + 9]!;
  // Non-first fragments carry no transport header: they belong to no session we can name.
  if ((u16(data, at + 6) & 0x1fff) !== 0) return 'fragment';
  out.ipVersion = 4;
  out.ipTtl = data[at + 8]!;
  out.ipOffset = at;
  out.ipLength = totalLength;
  out.capturedEnd = end;
  out.setAddresses(data, at + 12, at + 16);
  const transportLength = Math.min(totalLength, reported - at) - headerLength;
  return decodeTransport(data, at + headerLength, end, transportLength, out);
}

function decodeIPv6(
  data: Uint8Array,
  at: number,
  end: number,
  reported: number,
  out: DecodedPacket,
): SkipReason | null {
  if (at >= end) return 'truncated';
  if (data[at]! >> 4 !== 6) return 'malformed';
  if (at + 40 > end) return 'truncated';
  const payloadLength = u16(data, at + 4);
  let next = data[at + 6]!;
  out.ipTtl = data[at + 7]!;
  // Zero payload length means a jumbogram (RFC 2675), whose real length only the hop-by-hop option knows.
  let remaining = payloadLength === 0 ? reported - at - 40 : Math.min(payloadLength, reported - at - 40);
  let offset = at + 40;
  let destination = at + 24;
  for (let headers = 0; ; headers++) {
    if (next === IPPROTO_HOPOPTS || next === IPPROTO_ROUTING || next === IPPROTO_DSTOPTS || next === IPPROTO_AH) {
      if (headers >= MAX_IPV6_EXTENSION_HEADERS) return 'malformed';
      if (offset + 2 > end) return 'truncated';
      const extensionLength = next === IPPROTO_AH ? (data[offset + 1]! + 2) * 4 : (data[offset + 1]! + 1) * 8;
      if (next === IPPROTO_ROUTING) destination = finalDestination(data, offset, end, extensionLength, destination);
      next = data[offset]!;
      offset += extensionLength;
      remaining -= extensionLength;
    } else if (next === IPPROTO_FRAGMENT) {
      if (headers >= MAX_IPV6_EXTENSION_HEADERS) return 'malformed';
      if (offset + 8 > end) return 'truncated';
      out.ipProtocol = data[offset]!;
      if (u16(data, offset + 2) >> 3 !== 0) return 'fragment';
      next = data[offset]!;
      offset += 8;
      remaining -= 8;
    } else {
      break;
    }
    if (remaining < 0) return 'malformed';
  }
  out.ipProtocol = next;
  out.ipVersion = 6;
  out.ipOffset = at;
  out.ipLength = payloadLength === 0 ? reported - at : 40 + payloadLength;
  out.capturedEnd = end;
  out.setAddresses(data, at + 8, destination);
  out.icmpType = -1;
  out.icmpCode = -1;
  if (next === IPPROTO_NONE) return 'other-l4';
  return decodeTransport(data, offset, end, remaining, out);
}

/**
 * Where the final destination of a source-routed IPv6 packet is, when the routing header still has segments left:
 * the transport checksum (RFC 8200 8.1) and tshark's conversations use it, and it keeps one session per flow
 * whichever hop of the route the capture was taken at. Type 0 lists the route in order (last = final), type 2
 * (Mobile IPv6) carries one home address, type 4 (SRv6) lists it in reverse (first = final). Returns `current`
 * for other types or when the address would lie outside the header or the captured bytes.
 */
function finalDestination(data: Uint8Array, at: number, end: number, length: number, current: number): number {
  if (at + 8 > end || data[at + 3] === 0) return current;
  const type = data[at + 2];
  let address = -1;
  if (type === 0 || type === 2) address = at + 8 + 16 * (((length - 8) >> 4) - 1);
  else if (type === 4) address = at + 8;
  if (address < at + 8 || address + 16 > at + length || address + 16 > end) return current;
  return address;
}

/** `transportLength` is the length of transport header plus payload that the IP header announces. */
function decodeTransport(
  data: Uint8Array,
  at: number,
  end: number,
  transportLength: number,
  out: DecodedPacket,
): SkipReason | null {
  const protocol = out.ipProtocol;
  out.transportAt = at;
  out.transportLength = transportLength;
  out.icmpType = -1;
  out.icmpCode = -1;
  if (protocol === IPPROTO_TCP) {
    if (at + 20 > end) return 'truncated';
    const headerLength = (data[at + 12]! >> 4) * 4;
    if (headerLength < 20 || headerLength > transportLength) return 'malformed';
    if (at + headerLength > end) return 'truncated';
    out.proto = 'tcp';
    out.sport = u16(data, at);
    out.dport = u16(data, at + 2);
    out.tcpFlags = data[at + 13]!;
    out.payloadLength = transportLength - headerLength;
    out.tcpSeq = ((data[at + 4]! << 24) | (data[at + 5]! << 16) | (data[at + 6]! << 8) | data[at + 7]!) >>> 0;
    out.payloadAt = at + headerLength;
    out.payloadEnd = Math.min(end, out.payloadAt + out.payloadLength);
    return null;
  }
  if (protocol === IPPROTO_UDP) {
    if (at + 8 > end) return 'truncated';
    let udpLength = u16(data, at + 4);
    // A UDP length of zero in IPv6 means a jumbogram: the IP layer knows the length.
    if (udpLength === 0 && out.ipVersion === 6) udpLength = transportLength;
    if (udpLength < 8) return 'malformed';
    out.proto = 'udp';
    out.sport = u16(data, at);
    out.dport = u16(data, at + 2);
    out.tcpFlags = 0;
    out.payloadLength = Math.min(udpLength, transportLength) - 8;
    out.tcpSeq = 0;
    out.payloadAt = at + 8;
    out.payloadEnd = Math.max(out.payloadAt, Math.min(end, out.payloadAt + out.payloadLength));
    return null;
  }
  // Not sessionized, but the session record names these flows too (Community ID, Zeek's conn.log).
  out.sport = 0;
  out.dport = 0;
  out.tcpFlags = 0;
  out.payloadLength = Math.max(0, transportLength);
  if ((protocol === IPPROTO_ICMP || protocol === IPPROTO_ICMPV6) && at + 2 <= end && transportLength >= 2) {
    out.icmpType = data[at]!;
    out.icmpCode = data[at + 1]!;
  } else if (protocol === IPPROTO_SCTP && at + 4 <= end && transportLength >= 4) {
    out.sport = u16(data, at);
    out.dport = u16(data, at + 2);
  }
  return 'other-l4';
}
