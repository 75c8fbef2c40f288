// Community ID v1 (corelight/community-id-spec): one string per flow, the same in Zeek, Suricata, Arkime, Wireshark
// and Security Onion, so that an analyst can follow a flow from tool to tool.
//
//   "1:" + base64(SHA-1(seed (2 bytes) . addrA . addrB . proto (1 byte) . 0 (1 byte) [. portA (2) . portB (2)]))
//
// All numbers big-endian. The endpoints are ordered so that the smaller (address, port) comes first, which makes
// both directions of a flow one ID; ports are hashed only for TCP, UDP, SCTP, ICMP and ICMPv6. ICMP has no ports:
// its type stands for the source port and, for the request/reply pairs below, the counterpart type for the
// destination port (so a request and its reply share the ID); for any other message the code stands for the
// destination port and the message is one-way: its endpoints keep the order they were sent in.
import { createHash } from 'node:crypto';
import {
  type DecodedPacket,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from '../packet/decode.ts';

export const DEFAULT_COMMUNITY_ID_SEED = 0;

/** ICMPv4 request ↔ reply types: echo, router solicitation/advertisement, timestamp, information, address mask. */
const ICMP_COUNTERPART = new Map<number, number>([
  [8, 0],
  [0, 8],
  [10, 9],
  [9, 10],
  [13, 14],
  [14, 13],
  [15, 16],
  [16, 15],
  [17, 18],
  [18, 17],
]);

/**
 * ICMPv6 request ↔ reply types: echo, multicast listener query/report, router and neighbour solicitation/
 * advertisement, node information ("who are you") query/reply, home agent address discovery request/reply.
 */
const ICMPV6_COUNTERPART = new Map<number, number>([
  [128, 129],
  [129, 128],
  [130, 131],
  [131, 130],
  [133, 134],
  [134, 133],
  [135, 136],
  [136, 135],
  [139, 140],
  [140, 139],
  [144, 145],
  [145, 144],
]);

export interface IcmpPorts {
  sport: number;
  dport: number;
  /** True for a message with no counterpart: its endpoints are not reordered. */
  oneWay: boolean;
}

/** The "ports" an ICMP (protocol 1) or ICMPv6 (58) message stands for, as Zeek and the Community ID map them. */
export function icmpPorts(protocol: number, type: number, code: number): IcmpPorts {
  const counterpart = (protocol === IPPROTO_ICMPV6 ? ICMPV6_COUNTERPART : ICMP_COUNTERPART).get(type);
  return counterpart === undefined
    ? { sport: type, dport: code, oneWay: true }
    : { sport: type, dport: counterpart, oneWay: false };
}

/** Whether the Community ID of IP protocol `protocol` hashes ports. */
export function hasPorts(protocol: number): boolean {
  return (
    protocol === IPPROTO_TCP ||
    protocol === IPPROTO_UDP ||
    protocol === IPPROTO_SCTP ||
    protocol === IPPROTO_ICMP ||
    protocol === IPPROTO_ICMPV6
  );
}

/** Negative, zero or positive as address a[aAt..] sorts before, with or after b[bAt..] (both `length` bytes). */
function compareAddresses(a: Uint8Array, aAt: number, b: Uint8Array, bAt: number, length: number): number {
  for (let i = 0; i < length; i++) {
    const d = a[aAt + i]! - b[bAt + i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Community ID of a flow given as raw addresses (4 or 16 bytes each, at `srcAt`/`dstAt` in their arrays). For ICMP
 * and ICMPv6 pass the already mapped ports (icmpPorts) and their oneWay flag; for protocols without ports the ports
 * are ignored.
 */
export function communityIdOfAddresses(
  protocol: number,
  srcBytes: Uint8Array,
  srcAt: number,
  dstBytes: Uint8Array,
  dstAt: number,
  addressLength: 4 | 16,
  sport: number,
  dport: number,
  options: { seed?: number; oneWay?: boolean } = {},
): string {
  const seed = options.seed ?? DEFAULT_COMMUNITY_ID_SEED;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff)
    throw new RangeError(`Community ID seed ${seed} is not 0-65535`);
  const ports = hasPorts(protocol);
  const order = compareAddresses(srcBytes, srcAt, dstBytes, dstAt, addressLength);
  const keep = options.oneWay === true || order < 0 || (order === 0 && (!ports || sport < dport));
  const input = Buffer.alloc(2 + 2 * addressLength + 2 + (ports ? 4 : 0));
  input.writeUInt16BE(seed, 0);
  const [aBytes, aAt, bBytes, bAt] = keep ? [srcBytes, srcAt, dstBytes, dstAt] : [dstBytes, dstAt, srcBytes, srcAt];
  input.set(aBytes.subarray(aAt, aAt + addressLength), 2);
  input.set(bBytes.subarray(bAt, bAt + addressLength), 2 + addressLength);
  let at = 2 + 2 * addressLength;
  input[at++] = protocol;
  input[at++] = 0;
  if (ports) {
    input.writeUInt16BE(keep ? sport : dport, at);
    input.writeUInt16BE(keep ? dport : sport, at + 2);
  }
  return `1:${createHash('sha1').update(input).digest('base64')}`;
}

export interface FlowTuple {
  /** IP protocol number (6 TCP, 17 UDP, 132 SCTP, 1 ICMP, 58 ICMPv6, …). */
  protocol: number;
  src: string;
  dst: string;
  /** Source port; for ICMP/ICMPv6 the message type. Ignored for protocols without ports. */
  sport?: number;
  /** Destination port; for ICMP/ICMPv6 the message code. Ignored for protocols without ports. */
  dport?: number;
}

/** Community ID of a flow given as text (dotted IPv4 or IPv6); for ICMP the ports are the type and the code. */
export function communityId(flow: FlowTuple, seed = DEFAULT_COMMUNITY_ID_SEED): string {
  const src = addressBytes(flow.src);
  const dst = addressBytes(flow.dst);
  if (src.length !== dst.length) throw new Error(`${flow.src} and ${flow.dst} are not of one IP version`);
  let sport = flow.sport ?? 0;
  let dport = flow.dport ?? 0;
  let oneWay = false;
  if (flow.protocol === IPPROTO_ICMP || flow.protocol === IPPROTO_ICMPV6) {
    ({ sport, dport, oneWay } = icmpPorts(flow.protocol, sport, dport));
  }
  return communityIdOfAddresses(flow.protocol, src, 0, dst, 0, src.length as 4 | 16, sport, dport, { seed, oneWay });
}

/**
 * Community ID of a decoded packet's flow: TCP and UDP packets (decodePacket returned null) and 'other-l4' skips
 * (ICMP with its type and code, SCTP with its ports, other protocols without ports). Null when the packet carries too
 * little to tell (an ICMP message cut before its code).
 */
export function communityIdOfPacket(packet: DecodedPacket, seed = DEFAULT_COMMUNITY_ID_SEED): string | null {
  const protocol = packet.ipProtocol;
  let sport = packet.sport;
  let dport = packet.dport;
  let oneWay = false;
  if (protocol === IPPROTO_ICMP || protocol === IPPROTO_ICMPV6) {
    if (packet.icmpType < 0) return null;
    ({ sport, dport, oneWay } = icmpPorts(protocol, packet.icmpType, packet.icmpCode));
  }
  return communityIdOfAddresses(
    protocol,
    packet.bytes,
    packet.srcAt,
    packet.bytes,
    packet.dstAt,
    packet.addressLength,
    sport,
    dport,
    { seed, oneWay },
  );
}

/** The 4 or 16 bytes of a dotted IPv4 or an IPv6 address (with "::" and an optional dotted IPv4 tail). */
export function addressBytes(text: string): Uint8Array {
  if (!text.includes(':')) return ipv4(text, text);
  const fail = () => new Error(`not an IP address: ${text}`);
  let body = text;
  let tail: number[] = [];
  const lastColon = body.lastIndexOf(':');
  if (body.slice(lastColon + 1).includes('.')) {
    const v4 = ipv4(body.slice(lastColon + 1), text);
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    body = body.slice(0, lastColon + 1);
    if (body.endsWith(':') && !body.endsWith('::')) body = body.slice(0, -1);
  }
  const halves = body.split('::');
  if (halves.length > 2) throw fail();
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const parse = (g: string) => {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw fail();
    return Number.parseInt(g, 16);
  };
  const head = groups(halves[0]!).map(parse);
  const rest = halves.length === 2 ? groups(halves[1]!).map(parse) : [];
  const known = head.length + rest.length + tail.length;
  if (halves.length === 1 ? known !== 8 : known > 7) throw fail();
  const all = [...head, ...new Array<number>(8 - known).fill(0), ...rest, ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

function ipv4(text: string, whole: string): Uint8Array {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new Error(`not an IP address: ${whole}`);
  }
  return Uint8Array.from(parts.map(Number));
}
