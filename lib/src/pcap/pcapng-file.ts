// pcapng (draft-ietf-opsawg-pcapng). Each section is in the byte order its section header block's byte-order magic
// is read in, little- or big-endian; sections may differ:
//
// File => Section [Section]
//   Section => SectionHeaderBlock [Block]
//   Block => block_type block_total_length body block_total_length
//     block_type => UINT32
//     block_total_length => UINT32  the whole block, at least 12, a multiple of 4, the same at both ends
//   SectionHeaderBlock (type 0x0a0d0d0a) => byte_order_magic version_major version_minor section_length [Option]
//     byte_order_magic => UINT32     0x1a2b3c4d; sets the byte order of the section
//     version_major => UINT16        must be 1
//     version_minor => UINT16        ignored
//     section_length => INT64        ignored
//                                    block at least 28 bytes; forgets the previous section's interfaces
//   InterfaceDescriptionBlock (type 1) => linktype reserved snaplen [Option]
//     linktype => UINT16
//     reserved => UINT16             ignored
//     snaplen => UINT32              0: none; cuts simple packets, counts longer enhanced packets
//     Option if_tsresol (9)          UINT8, units per second: 10^n, or 2^n when the top bit is set; default 10^6
//     Option if_tsoffset (14)        INT64 seconds added to every timestamp; default 0
//                                    block at least 20 bytes; interface ids count from 0 in each section
//   EnhancedPacketBlock (type 6) => interface_id ts_high ts_low caplen origlen data [Option]
//     interface_id => UINT32         an interface described earlier in the section
//     ts_high, ts_low => UINT32      one 64-bit count of the interface's units since the epoch
//     caplen => UINT32               at most MAX_CAPLEN, and within the block
//     origlen => UINT32              length on the wire
//     data => BYTES[caplen]          padded to 4 bytes
//                                    block at least 32 bytes; its options are ignored
//   SimplePacketBlock (type 3) => origlen data
//     origlen => UINT32              data is what the block holds, cut to origlen and to interface 0's snaplen
//                                    block at least 16 bytes; interface 0, no timestamp (0)
//   Option => code length value      read in interface descriptions only: code 0 ends the list, codes not named
//     code, length => UINT16         above are skipped, and one that overruns its block is an error
//     value => BYTES[length]         padded to 4 bytes
//
// Every other block is skipped: Obsolete Packet Blocks (type 2) counted in obsoletePacketBlocks, the rest (name
// resolution, statistics, decryption secrets, custom, unknown) in skippedBlocks. A block that carries no packet
// and is longer than MAX_BLOCK_LENGTH is discarded as it streams by, without buffering (its trailing length goes
// unchecked); an oversized block that carries packets or state is an error. A block cut short by the end of the
// input is counted and dropped, except the first section header: a file that ends inside it is an error.
import { type CaptureFile, type CaptureInput, hex32, MAX_CAPLEN } from './capture-input.ts';
import { PcapFormatError } from './errors.ts';
import type { PacketRecord } from './packet-record.ts';

/** Largest pcapng block that is buffered: one maximal packet plus generous room for options. */
export const MAX_BLOCK_LENGTH = MAX_CAPLEN + 64 * 1024;

const SECTION_HEADER = 0x0a0d0d0a;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const INTERFACE_DESCRIPTION = 1;
const OBSOLETE_PACKET = 2;
const SIMPLE_PACKET = 3;
const ENHANCED_PACKET = 6;

interface PcapngInterface {
  linktype: number;
  snaplen: number;
  /** Timestamp units per second (if_tsresol), as a bigint for exotic resolutions such as 2^-40. */
  unitsPerSecond: bigint;
  /** Same as a number when it is a power of ten up to 10^9, else 0: the fast path. */
  unitsPerSecondSmall: number;
  nsPerUnit: number;
  /** if_tsoffset, seconds added to every timestamp. */
  offsetSeconds: number;
}

/** Whether the 4 bytes at buf[at] start a section header block (its type reads the same in both byte orders). */
export function isPcapngStart(buf: Buffer, at: number): boolean {
  return buf.readUInt32BE(at) === SECTION_HEADER;
}

/** Reads a pcapng file from its first byte, the section header block isPcapngStart recognised. */
export class PcapngFile implements CaptureFile {
  private littleEndian = true;
  private interfaces: PcapngInterface[] = [];
  /** Bytes of an oversized non-packet block still to discard. */
  private skipRemaining = 0;

  constructor(private readonly input: CaptureInput) {
    input.counters.format = 'pcapng';
  }

  nextRecord(): PacketRecord | null {
    for (;;) {
      if (this.skipRemaining > 0 && !this.discardSkipped()) return null;
      const result = this.nextBlock();
      if (result !== undefined) return result;
    }
  }

  /** Discards what is buffered of an oversized block; true once all of it is gone. */
  private discardSkipped(): boolean {
    const input = this.input;
    const n = Math.min(this.skipRemaining, input.available);
    input.pos += n;
    this.skipRemaining -= n;
    if (this.skipRemaining === 0) return true;
    if (input.ended) input.counters.truncatedAtEnd = 1;
    return false;
  }

  /** A packet, null when input is needed, undefined when a block without a packet was consumed. */
  private nextBlock(): PacketRecord | null | undefined {
    const input = this.input;
    // The first section header is the file header: a file that ends inside it is not a capture at all.
    const isFileHeader = input.offset() === 0;
    if (input.available < 12) return input.incomplete('pcapng block header', 12, isFileHeader);
    const b = input.buf;
    const p = input.pos;
    const blockType = this.littleEndian ? b.readUInt32LE(p) : b.readUInt32BE(p);
    if (blockType === SECTION_HEADER) {
      const orderLE = b.readUInt32LE(p + 8);
      if (orderLE === BYTE_ORDER_MAGIC) this.littleEndian = true;
      else if (b.readUInt32BE(p + 8) === BYTE_ORDER_MAGIC) this.littleEndian = false;
      else {
        throw new PcapFormatError(
          input.offset(p + 8),
          `section header block has an invalid byte-order magic ${hex32(b.readUInt32BE(p + 8))}`,
        );
      }
    }
    const le = this.littleEndian;
    const blockLength = le ? b.readUInt32LE(p + 4) : b.readUInt32BE(p + 4);
    if (blockLength < 12) {
      throw new PcapFormatError(input.offset(p + 4), `block total length ${blockLength} is less than 12`);
    }
    if (blockLength % 4 !== 0) {
      throw new PcapFormatError(input.offset(p + 4), `block total length ${blockLength} is not a multiple of 4`);
    }
    const carriesPacketsOrState =
      blockType === SECTION_HEADER ||
      blockType === INTERFACE_DESCRIPTION ||
      blockType === ENHANCED_PACKET ||
      blockType === SIMPLE_PACKET;
    if (blockLength > MAX_BLOCK_LENGTH) {
      if (carriesPacketsOrState) {
        throw new PcapFormatError(
          input.offset(p + 4),
          `block of type ${hex32(blockType)} has total length ${blockLength}, over the limit of ${MAX_BLOCK_LENGTH}`,
        );
      }
      // Too big to buffer and of no use to us: discard it as it streams by (its trailing length goes unchecked).
      this.countSkippedBlock(blockType);
      input.pos += 8;
      this.skipRemaining = blockLength - 8;
      return undefined;
    }
    if (input.available < blockLength) return input.incomplete('pcapng block', blockLength, isFileHeader);
    const trailer = le ? b.readUInt32LE(p + blockLength - 4) : b.readUInt32BE(p + blockLength - 4);
    if (trailer !== blockLength) {
      throw new PcapFormatError(
        input.offset(p + blockLength - 4),
        `block of type ${hex32(blockType)} has total length ${blockLength} at its start but ${trailer} at its end`,
      );
    }
    input.pos = p + blockLength;
    switch (blockType) {
      case SECTION_HEADER:
        this.readSectionHeader(p, blockLength);
        return undefined;
      case INTERFACE_DESCRIPTION:
        this.readInterfaceDescription(p, blockLength);
        return undefined;
      case ENHANCED_PACKET:
        return this.readEnhancedPacket(p, blockLength);
      case SIMPLE_PACKET:
        return this.readSimplePacket(p, blockLength);
      default:
        this.countSkippedBlock(blockType);
        return undefined;
    }
  }

  private countSkippedBlock(blockType: number): void {
    if (blockType === OBSOLETE_PACKET) this.input.counters.obsoletePacketBlocks++;
    else this.input.counters.skippedBlocks++;
  }

  private u16(at: number): number {
    return this.littleEndian ? this.input.buf.readUInt16LE(at) : this.input.buf.readUInt16BE(at);
  }

  private u32(at: number): number {
    return this.littleEndian ? this.input.buf.readUInt32LE(at) : this.input.buf.readUInt32BE(at);
  }

  private readSectionHeader(p: number, blockLength: number): void {
    if (blockLength < 28) {
      throw new PcapFormatError(this.input.offset(p + 4), `section header block length ${blockLength} is less than 28`);
    }
    const major = this.u16(p + 12);
    if (major !== 1) {
      throw new PcapFormatError(this.input.offset(p + 12), `unsupported pcapng version major ${major} (expected 1)`);
    }
    // Interface ids are scoped to a section.
    this.interfaces = [];
  }

  private readInterfaceDescription(p: number, blockLength: number): void {
    const input = this.input;
    if (blockLength < 20) {
      throw new PcapFormatError(
        input.offset(p + 4),
        `interface description block length ${blockLength} is less than 20`,
      );
    }
    const linktype = this.u16(p + 8);
    const snaplen = this.u32(p + 12);
    let resolution = 6;
    let offsetSeconds = 0;
    const end = p + blockLength - 4;
    let o = p + 16;
    while (o + 4 <= end) {
      const code = this.u16(o);
      const length = this.u16(o + 2);
      if (code === 0) break;
      const value = o + 4;
      if (value + length > end) {
        throw new PcapFormatError(
          input.offset(o + 2),
          `interface option ${code} of length ${length} overruns its block`,
        );
      }
      if (code === 9 && length >= 1) resolution = input.buf[value] ?? 6;
      else if (code === 14 && length >= 8) {
        const hi = this.littleEndian ? input.buf.readInt32LE(value + 4) : input.buf.readInt32BE(value);
        const lo = this.littleEndian ? input.buf.readUInt32LE(value) : input.buf.readUInt32BE(value + 4);
        offsetSeconds = hi * 2 ** 32 + lo;
      }
      o = value + ((length + 3) & ~3);
    }
    const exponent = resolution & 0x7f;
    const unitsPerSecond = resolution & 0x80 ? 1n << BigInt(exponent) : 10n ** BigInt(exponent);
    const small = !(resolution & 0x80) && exponent <= 9;
    this.interfaces.push({
      linktype,
      snaplen,
      unitsPerSecond,
      unitsPerSecondSmall: small ? 10 ** exponent : 0,
      nsPerUnit: small ? 10 ** (9 - exponent) : 0,
      offsetSeconds,
    });
    input.counters.linktypes.add(linktype);
  }

  private interfaceAt(id: number, at: number, block: string): PcapngInterface {
    const iface = this.interfaces[id];
    if (iface === undefined) {
      throw new PcapFormatError(
        this.input.offset(at),
        `${block} refers to interface ${id} but the section describes ${this.interfaces.length}`,
      );
    }
    return iface;
  }

  private readEnhancedPacket(p: number, blockLength: number): PacketRecord {
    const input = this.input;
    if (blockLength < 32) {
      throw new PcapFormatError(input.offset(p + 4), `enhanced packet block length ${blockLength} is less than 32`);
    }
    const interfaceId = this.u32(p + 8);
    const iface = this.interfaceAt(interfaceId, p + 8, 'enhanced packet block');
    const high = this.u32(p + 12);
    const low = this.u32(p + 16);
    const caplen = this.u32(p + 20);
    const origLen = this.u32(p + 24);
    if (caplen > MAX_CAPLEN) {
      throw new PcapFormatError(
        input.offset(p + 20),
        `enhanced packet captured length ${caplen} exceeds the maximum of ${MAX_CAPLEN} bytes`,
      );
    }
    if (28 + caplen + 4 > blockLength) {
      throw new PcapFormatError(
        input.offset(p + 20),
        `enhanced packet captured length ${caplen} overruns its block of total length ${blockLength}`,
      );
    }
    const counters = input.counters;
    if (iface.snaplen > 0 && caplen > iface.snaplen) counters.caplenOverSnaplen++;
    let tsSec: number;
    let tsNsec: number;
    if (iface.unitsPerSecondSmall !== 0 && high < 0x200000) {
      const units = high * 2 ** 32 + low;
      tsSec = Math.floor(units / iface.unitsPerSecondSmall);
      tsNsec = (units - tsSec * iface.unitsPerSecondSmall) * iface.nsPerUnit;
    } else {
      const units = (BigInt(high) << 32n) | BigInt(low);
      const sec = units / iface.unitsPerSecond;
      tsSec = Number(sec);
      tsNsec = Number(((units - sec * iface.unitsPerSecond) * 1_000_000_000n) / iface.unitsPerSecond);
    }
    tsSec += iface.offsetSeconds;
    counters.packets++;
    counters.linktypes.add(iface.linktype);
    return input.record.set(
      iface.linktype,
      interfaceId,
      tsSec,
      tsNsec,
      caplen,
      origLen,
      input.buf,
      p + 28,
      input.base + p,
    );
  }

  private readSimplePacket(p: number, blockLength: number): PacketRecord {
    const input = this.input;
    if (blockLength < 16) {
      throw new PcapFormatError(input.offset(p + 4), `simple packet block length ${blockLength} is less than 16`);
    }
    const iface = this.interfaceAt(0, p, 'simple packet block');
    const origLen = this.u32(p + 8);
    let caplen = Math.min(origLen, blockLength - 16);
    if (iface.snaplen > 0) caplen = Math.min(caplen, iface.snaplen);
    if (caplen > MAX_CAPLEN) {
      throw new PcapFormatError(
        input.offset(p + 8),
        `simple packet length ${caplen} exceeds the maximum of ${MAX_CAPLEN}`,
      );
    }
    input.counters.packets++;
    input.counters.linktypes.add(iface.linktype);
    // A simple packet block has no timestamp.
    return input.record.set(iface.linktype, 0, 0, 0, caplen, origLen, input.buf, p + 12, input.base + p);
  }
}
