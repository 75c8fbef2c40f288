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

/** The hash input, built in place: seed, two IPv6 addresses, protocol, padding and two ports at most. */
const HASH_INPUT = new Uint8Array(2 + 32 + 2 + 4);
const SHA1_BLOCK = new Uint8Array(64);
const SHA1_WORDS = new Int32Array(80);
const SHA1_DIGEST = new Uint8Array(20);
const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const BASE64_CODES = Uint8Array.from(BASE64, (c) => c.charCodeAt(0));
/** The 28 characters of a 20-byte digest in base64. */
const BASE64_CHARS = new Uint16Array(28);

function putWord(bytes: Uint8Array, at: number, word: number): void {
  bytes[at] = word >>> 24;
  bytes[at + 1] = (word >>> 16) & 0xff;
  bytes[at + 2] = (word >>> 8) & 0xff;
  bytes[at + 3] = word & 0xff;
}

function rotl(x: number, n: number): number {
  return (x << n) | (x >>> (32 - n));
}

/**
 * SHA-1 (FIPS 180-4) of at most 55 bytes, base64: the Community ID input is one block, and node's hash objects cost
 * several times the hash itself, once per session. Longer inputs go to node:crypto.
 */
export function sha1Base64(data: Uint8Array): string {
  if (data.length > 55) return createHash('sha1').update(data).digest('base64');
  const block = SHA1_BLOCK;
  block.fill(0);
  block.set(data);
  block[data.length] = 0x80;
  const bits = data.length * 8;
  block[62] = bits >>> 8;
  block[63] = bits & 0xff;
  const w = SHA1_WORDS;
  for (let t = 0; t < 16; t++) {
    w[t] = (block[4 * t]! << 24) | (block[4 * t + 1]! << 16) | (block[4 * t + 2]! << 8) | block[4 * t + 3]!;
  }
  for (let t = 16; t < 80; t++) w[t] = rotl(w[t - 3]! ^ w[t - 8]! ^ w[t - 14]! ^ w[t - 16]!, 1);
  const h0 = 0x67452301;
  const h1 = 0xefcdab89 | 0;
  const h2 = 0x98badcfe | 0;
  const h3 = 0x10325476;
  const h4 = 0xc3d2e1f0 | 0;
  let a = h0;
  let b = h1;
  let c = h2;
  let d = h3;
  let e = h4;
  for (let t = 0; t < 80; t++) {
    let f: number;
    let k: number;
    if (t < 20) {
      f = (b & c) | (~b & d);
      k = 0x5a827999;
    } else if (t < 40) {
      f = b ^ c ^ d;
      k = 0x6ed9eba1;
    } else if (t < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8f1bbcdc | 0;
    } else {
      f = b ^ c ^ d;
      k = 0xca62c1d6 | 0;
    }
    const temp = (rotl(a, 5) + f + e + k + w[t]!) | 0;
    e = d;
    d = c;
    c = rotl(b, 30);
    b = a;
    a = temp;
  }
  // The sums are taken modulo 2^32 (| 0) so that they stay 32-bit integers: a sum past 2^31 would turn the
  // function's arithmetic into doubles for every later call.
  const digest = SHA1_DIGEST;
  putWord(digest, 0, (h0 + a) | 0);
  putWord(digest, 4, (h1 + b) | 0);
  putWord(digest, 8, (h2 + c) | 0);
  putWord(digest, 12, (h3 + d) | 0);
  putWord(digest, 16, (h4 + e) | 0);
  // Base64 into reused character codes, one string made from them: a flat string, not a rope of 28 pieces.
  const chars = BASE64_CHARS;
  let o = 0;
  for (let i = 0; i < 18; i += 3) {
    const n = (digest[i]! << 16) | (digest[i + 1]! << 8) | digest[i + 2]!;
    chars[o++] = BASE64_CODES[n >> 18]!;
    chars[o++] = BASE64_CODES[(n >> 12) & 63]!;
    chars[o++] = BASE64_CODES[(n >> 6) & 63]!;
    chars[o++] = BASE64_CODES[n & 63]!;
  }
  const n = (digest[18]! << 16) | (digest[19]! << 8);
  chars[o++] = BASE64_CODES[n >> 18]!;
  chars[o++] = BASE64_CODES[(n >> 12) & 63]!;
  chars[o++] = BASE64_CODES[(n >> 6) & 63]!;
  chars[o] = 0x3d;
  return String.fromCharCode.apply(null, chars as unknown as number[]);
}

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
  const input = HASH_INPUT;
  input[0] = seed >> 8;
  input[1] = seed & 0xff;
  const aBytes = keep ? srcBytes : dstBytes;
  const aAt = keep ? srcAt : dstAt;
  const bBytes = keep ? dstBytes : srcBytes;
  const bAt = keep ? dstAt : srcAt;
  for (let i = 0; i < addressLength; i++) {
    input[2 + i] = aBytes[aAt + i]!;
    input[2 + addressLength + i] = bBytes[bAt + i]!;
  }
  let at = 2 + 2 * addressLength;
  input[at++] = protocol;
  input[at++] = 0;
  if (ports) {
    const first = keep ? sport : dport;
    const second = keep ? dport : sport;
    input[at++] = first >> 8;
    input[at++] = first & 0xff;
    input[at++] = second >> 8;
    input[at++] = second & 0xff;
  }
  return `1:${sha1Base64(input.subarray(0, at))}`;
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
