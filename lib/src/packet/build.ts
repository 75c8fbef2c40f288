// Builds TCP/UDP packets byte by byte for every link type the decoder supports: for tests, and for generating
// synthetic captures (benchmarks, the lab). Checksums are left zero: nothing downstream verifies them.
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_LOOP,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
  LINKTYPE_RAW_BSD,
  LINKTYPE_RAW_OPENBSD,
  TCP_ACK,
} from './decode.ts';

export function ipv4Bytes(address: string): Buffer {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`not an IPv4 address: ${address}`);
  }
  return Buffer.from(parts);
}

export function ipv6Bytes(address: string): Buffer {
  const halves = address.split('::');
  if (halves.length > 2) throw new Error(`not an IPv6 address: ${address}`);
  const groups = (text: string | undefined) => (text ? text.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const zeros = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const all = [...head, ...new Array<number>(zeros).fill(0), ...tail];
  if (all.length !== 8 || all.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) {
    throw new Error(`not an IPv6 address: ${address}`);
  }
  const bytes = Buffer.alloc(16);
  all.forEach((g, i) => {
    bytes.writeUInt16BE(g, 2 * i);
  });
  return bytes;
}

export interface TransportSpec {
  proto: 'tcp' | 'udp';
  sport: number;
  dport: number;
  /** TCP flags byte; default ACK. */
  tcpFlags?: number;
  /** Bytes of TCP options (a multiple of 4). */
  tcpOptionsLength?: number;
  /** TCP sequence and acknowledgement numbers; default 1 and 0. */
  tcpSeq?: number;
  tcpAck?: number;
  payload?: Uint8Array;
}

export function transportBytes(spec: TransportSpec): Buffer {
  const payload = spec.payload ?? Buffer.alloc(0);
  if (spec.proto === 'udp') {
    const header = Buffer.alloc(8);
    header.writeUInt16BE(spec.sport, 0);
    header.writeUInt16BE(spec.dport, 2);
    header.writeUInt16BE(8 + payload.length, 4);
    return Buffer.concat([header, payload]);
  }
  const optionsLength = spec.tcpOptionsLength ?? 0;
  const header = Buffer.alloc(20 + optionsLength);
  header.writeUInt16BE(spec.sport, 0);
  header.writeUInt16BE(spec.dport, 2);
  header.writeUInt32BE((spec.tcpSeq ?? 1) >>> 0, 4);
  header.writeUInt32BE((spec.tcpAck ?? 0) >>> 0, 8);
  header[12] = ((20 + optionsLength) / 4) << 4;
  header[13] = spec.tcpFlags ?? TCP_ACK;
  header.writeUInt16BE(65535, 14);
  // NOP options keep an options area parseable.
  header.fill(1, 20);
  return Buffer.concat([header, payload]);
}

export interface IPv4Spec {
  src: string;
  dst: string;
  protocol: number;
  ttl?: number;
  /** Fragment offset in 8-byte units. */
  fragmentOffset?: number;
  moreFragments?: boolean;
  /** Overrides the total length field (to build lying headers). */
  totalLength?: number;
  /** Bytes of IP options (a multiple of 4). */
  optionsLength?: number;
}

export function ipv4Packet(spec: IPv4Spec, payload: Uint8Array): Buffer {
  const headerLength = 20 + (spec.optionsLength ?? 0);
  const header = Buffer.alloc(headerLength);
  header[0] = 0x40 | (headerLength / 4);
  header.writeUInt16BE(spec.totalLength ?? headerLength + payload.length, 2);
  header.writeUInt16BE((spec.moreFragments ? 0x2000 : 0) | (spec.fragmentOffset ?? 0), 6);
  header[8] = spec.ttl ?? 64;
  header[9] = spec.protocol;
  ipv4Bytes(spec.src).copy(header, 12);
  ipv4Bytes(spec.dst).copy(header, 16);
  header.fill(1, 20);
  return Buffer.concat([header, payload]);
}

export interface IPv6ExtensionSpec {
  /** 0 hop-by-hop, 43 routing, 44 fragment, 60 destination options, 51 AH. */
  type: number;
  /** Total header length in bytes (multiple of 8; AH: multiple of 4); fragment headers are always 8. */
  length?: number;
  fragmentOffset?: number;
  moreFragments?: boolean;
}

export interface IPv6Spec {
  src: string;
  dst: string;
  nextHeader: number;
  hopLimit?: number;
  extensions?: IPv6ExtensionSpec[];
  /** Overrides the payload length field. */
  payloadLength?: number;
}

export function ipv6Packet(spec: IPv6Spec, payload: Uint8Array): Buffer {
  const extensions = spec.extensions ?? [];
  const chain: Buffer[] = [];
  extensions.forEach((extension, i) => {
    const next = extensions[i + 1]?.type ?? spec.nextHeader;
    const length = extension.type === 44 ? 8 : (extension.length ?? 8);
    const header = Buffer.alloc(length);
    header[0] = next;
    if (extension.type === 51) header[1] = length / 4 - 2;
    else if (extension.type !== 44) header[1] = length / 8 - 1;
    if (extension.type === 44) {
      header.writeUInt16BE(((extension.fragmentOffset ?? 0) << 3) | (extension.moreFragments ? 1 : 0), 2);
    } else if (extension.type !== 51) {
      // PadN option filling the header, so the options area is well formed.
      header[2] = 1;
      header[3] = length - 4;
    }
    chain.push(header);
  });
  const body = Buffer.concat([...chain, payload]);
  const header = Buffer.alloc(40);
  header[0] = 0x60;
  header.writeUInt16BE(spec.payloadLength ?? body.length, 4);
  header[6] = extensions[0]?.type ?? spec.nextHeader;
  header[7] = spec.hopLimit ?? 64;
  ipv6Bytes(spec.src).copy(header, 8);
  ipv6Bytes(spec.dst).copy(header, 24);
  return Buffer.concat([header, body]);
}

export interface LinkSpec {
  linktype: number;
  /** Ethernet: 802.1Q/802.1ad tag protocol ids, outermost first, e.g. [0x88a8, 0x8100]. */
  vlanTags?: number[];
  /** DLT_NULL/DLT_LOOP: the address family value; default 2 or 24 by IP version. */
  addressFamily?: number;
  /** DLT_NULL/DLT_LOOP: write the family little-endian (DLT_NULL on x86) instead of big-endian. */
  familyLittleEndian?: boolean;
}

/** Wraps an IP packet in the link-layer header of `link.linktype`. */
export function linkFrame(link: LinkSpec, ipPacket: Buffer): Buffer {
  const version = (ipPacket[0] ?? 0) >> 4;
  const ethertype = version === 6 ? 0x86dd : 0x0800;
  switch (link.linktype) {
    case LINKTYPE_ETHERNET: {
      const tags = link.vlanTags ?? [];
      const header = Buffer.alloc(14 + 4 * tags.length);
      header.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]);
      tags.forEach((tpid, i) => {
        header.writeUInt16BE(tpid, 12 + 4 * i);
        header.writeUInt16BE(100 + i, 14 + 4 * i);
      });
      header.writeUInt16BE(ethertype, 12 + 4 * tags.length);
      return Buffer.concat([header, ipPacket]);
    }
    case LINKTYPE_LINUX_SLL: {
      const header = Buffer.alloc(16);
      header.writeUInt16BE(0, 0);
      header.writeUInt16BE(1, 2);
      header.writeUInt16BE(6, 4);
      header.writeUInt16BE(ethertype, 14);
      return Buffer.concat([header, ipPacket]);
    }
    case LINKTYPE_LINUX_SLL2: {
      const header = Buffer.alloc(20);
      header.writeUInt16BE(ethertype, 0);
      header.writeUInt32BE(2, 4);
      header.writeUInt16BE(1, 8);
      header[11] = 6;
      return Buffer.concat([header, ipPacket]);
    }
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP: {
      const header = Buffer.alloc(4);
      const family = link.addressFamily ?? (version === 6 ? 24 : 2);
      if (link.familyLittleEndian) header.writeUInt32LE(family, 0);
      else header.writeUInt32BE(family, 0);
      return Buffer.concat([header, ipPacket]);
    }
    case LINKTYPE_RAW:
    case LINKTYPE_RAW_BSD:
    case LINKTYPE_RAW_OPENBSD:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
      return ipPacket;
    default:
      throw new Error(`no link-layer builder for link type ${link.linktype}`);
  }
}

export interface PacketSpec extends TransportSpec {
  src: string;
  dst: string;
  linktype?: number;
  vlanTags?: number[];
  addressFamily?: number;
  familyLittleEndian?: boolean;
}

/** A whole TCP/UDP frame; IPv6 when `src` contains ":". */
export function buildPacket(spec: PacketSpec): Buffer {
  const transport = transportBytes(spec);
  const protocol = spec.proto === 'tcp' ? 6 : 17;
  const ip = spec.src.includes(':')
    ? ipv6Packet({ src: spec.src, dst: spec.dst, nextHeader: protocol }, transport)
    : ipv4Packet({ src: spec.src, dst: spec.dst, protocol }, transport);
  return linkFrame(
    {
      linktype: spec.linktype ?? LINKTYPE_ETHERNET,
      vlanTags: spec.vlanTags ?? [],
      ...(spec.addressFamily !== undefined ? { addressFamily: spec.addressFamily } : {}),
      familyLittleEndian: spec.familyLittleEndian === true,
    },
    ip,
  );
}
