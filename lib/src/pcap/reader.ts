// Streaming reader for classic pcap (both byte orders, micro- and nanosecond) and pcapng (SHB in either byte
// order, IDB with if_tsresol/if_tsoffset, EPB, SPB; other blocks skipped and counted).
//
// Memory stays bounded: the parser only ever holds the unread tail of the input, which is never more than one
// record or block, and a record or block larger than the limits below is rejected (or, for blocks that carry no
// packet, skipped without buffering). Every structural lie throws a PcapFormatError with its file offset; a record
// cut short by the end of the input is counted, because that is how tcpdump leaves a file it was killed writing.
import { PcapFormatError } from './errors.ts';

export { PcapFormatError } from './errors.ts';

/** Largest captured length accepted, as in libpcap and Wireshark (MAXIMUM_SNAPLEN). */
export const MAX_CAPLEN = 256 * 1024;
/** Largest pcapng block that is buffered: one maximal packet plus generous room for options. */
export const MAX_BLOCK_LENGTH = MAX_CAPLEN + 64 * 1024;

const PCAP_MAGIC_MICRO = 0xa1b2c3d4;
const PCAP_MAGIC_NANO = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const PCAPNG_IDB = 1;
const PCAPNG_OPB = 2;
const PCAPNG_SPB = 3;
const PCAPNG_EPB = 6;
const PCAP_FILE_HEADER_LENGTH = 24;
const PCAP_RECORD_HEADER_LENGTH = 16;
const EMPTY = Buffer.alloc(0);

export type CaptureFormat = 'pcap' | 'pcapng';

/** One captured packet. `data` is a view into the input (no copy): copy it if you keep it and the input is reused. */
export class CapturedPacket {
  constructor(
    readonly linktype: number,
    readonly interfaceId: number,
    /** Whole seconds of the capture time since the epoch. */
    readonly tsSec: number,
    /** Nanoseconds within tsSec, 0..999_999_999. */
    readonly tsNsec: number,
    readonly caplen: number,
    /** Length of the packet on the wire, which is what tshark counts as bytes. */
    readonly origLen: number,
    readonly data: Buffer,
    /** File offset of the record or block that carried the packet. */
    readonly fileOffset: number,
  ) {}

  /** Capture time in nanoseconds since the epoch, exact. */
  get tsNs(): bigint {
    return BigInt(this.tsSec) * 1_000_000_000n + BigInt(this.tsNsec);
  }

  /** Capture time in seconds since the epoch as a float (about 0.2 µs precision today). */
  get tsSeconds(): number {
    return this.tsSec + this.tsNsec / 1e9;
  }
}

/**
 * The same fields as CapturedPacket, in one object the parser rewrites for every packet: the allocation-free form
 * for bulk work (nextRecord, forEachPacketRecord). The packet's bytes are buffer[dataStart, dataStart + caplen);
 * the record is only valid until the parser's next call.
 */
export class PacketRecord {
  linktype = 0;
  interfaceId = 0;
  tsSec = 0;
  tsNsec = 0;
  caplen = 0;
  origLen = 0;
  buffer: Buffer = EMPTY;
  dataStart = 0;
  fileOffset = 0;

  /** Fills the record; returns it. */
  set(
    linktype: number,
    interfaceId: number,
    tsSec: number,
    tsNsec: number,
    caplen: number,
    origLen: number,
    buffer: Buffer,
    dataStart: number,
    fileOffset: number,
  ): PacketRecord {
    this.linktype = linktype;
    this.interfaceId = interfaceId;
    this.tsSec = tsSec;
    this.tsNsec = tsNsec;
    this.caplen = caplen;
    this.origLen = origLen;
    this.buffer = buffer;
    this.dataStart = dataStart;
    this.fileOffset = fileOffset;
    return this;
  }

  /** A CapturedPacket of its own, with a view of the bytes (still no copy). */
  toPacket(): CapturedPacket {
    return new CapturedPacket(
      this.linktype,
      this.interfaceId,
      this.tsSec,
      this.tsNsec,
      this.caplen,
      this.origLen,
      this.buffer.subarray(this.dataStart, this.dataStart + this.caplen),
      this.fileOffset,
    );
  }
}

export interface ReaderCounters {
  format: CaptureFormat | undefined;
  /** Packets handed out. */
  packets: number;
  /** Link types of the packets handed out and of every interface described in the file. */
  linktypes: Set<number>;
  /** 1 when the input ended in the middle of a record or block (tcpdump killed mid-write); that record is dropped. */
  truncatedAtEnd: number;
  /** pcapng blocks that carry no packet for us (name resolution, statistics, custom, unknown types). */
  skippedBlocks: number;
  /** pcapng Obsolete Packet Blocks, not read by design. */
  obsoletePacketBlocks: number;
  /** Records whose captured length exceeds the snapshot length of the header; kept, as libpcap and tshark do. */
  caplenOverSnaplen: number;
  /** pcap records whose sub-second field is a second or more; kept, the excess carried into the seconds. */
  invalidTimestamps: number;
}

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

function hex32(value: number): string {
  return `0x${(value >>> 0).toString(16).padStart(8, '0')}`;
}

/**
 * Push-based parser: feed chunks with push(), call next() until it returns null, repeat; call end() once the input
 * is exhausted and drain next() again. It never holds more than one record or block of unread input.
 */
export class CaptureParser {
  readonly counters: ReaderCounters = {
    format: undefined,
    packets: 0,
    linktypes: new Set(),
    truncatedAtEnd: 0,
    skippedBlocks: 0,
    obsoletePacketBlocks: 0,
    caplenOverSnaplen: 0,
    invalidTimestamps: 0,
  };

  private buf: Buffer = EMPTY;
  private pos = 0;
  /** File offset of buf[0]. */
  private base = 0;
  private ended = false;
  /** Bytes of an oversized non-packet block still to discard. */
  private skipRemaining = 0;

  private littleEndian = true;
  private nanosecond = false;
  private snaplen = 0;
  private linktype = 0;
  private interfaces: PcapngInterface[] = [];
  private readonly record = new PacketRecord();

  push(chunk: Uint8Array): void {
    if (this.ended) throw new Error('CaptureParser.push after end()');
    if (chunk.length === 0) return;
    const incoming = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (this.pos >= this.buf.length) {
      this.base += this.buf.length;
      this.buf = incoming;
    } else {
      this.base += this.pos;
      this.buf = Buffer.concat([this.buf.subarray(this.pos), incoming]);
    }
    this.pos = 0;
  }

  end(): void {
    this.ended = true;
  }

  /**
   * Gives back the bytes pushed but not yet consumed (less than one record or block) and forgets them. For callers
   * that read into one buffer of their own: they put these bytes at the start of the buffer, read after them and
   * push the whole, so that no chunk is ever copied or allocated. Only for the nextRecord path: views handed out
   * by next() would see the buffer being overwritten.
   */
  takeUnread(): Buffer {
    const unread = this.buf.subarray(this.pos);
    this.base += this.pos;
    this.buf = EMPTY;
    this.pos = 0;
    return unread;
  }

  /** Bytes buffered but not yet consumed: bounded by one record or block. */
  get bufferedBytes(): number {
    return this.buf.length - this.pos;
  }

  private get available(): number {
    return this.buf.length - this.pos;
  }

  private offset(at = this.pos): number {
    return this.base + at;
  }

  /** The next packet, or null when more input is needed (or, after end(), when the input is exhausted). */
  next(): CapturedPacket | null {
    return this.nextRecord()?.toPacket() ?? null;
  }

  /** Like next(), without allocating: the returned record is rewritten by the next call. */
  nextRecord(): PacketRecord | null {
    for (;;) {
      if (this.skipRemaining > 0) {
        const n = Math.min(this.skipRemaining, this.available);
        this.pos += n;
        this.skipRemaining -= n;
        if (this.skipRemaining > 0) {
          if (this.ended) this.counters.truncatedAtEnd = 1;
          return null;
        }
      }
      if (this.counters.format === undefined) {
        if (!this.readFileHeader()) return null;
        continue;
      }
      if (this.counters.format === 'pcap') return this.nextPcapRecord();
      const result = this.nextPcapngBlock();
      if (result !== undefined) return result;
    }
  }

  /** Reports the end of input while a structure was incomplete; returns null for the caller's convenience. */
  private incomplete(what: string, needed: number, mandatory: boolean): null {
    if (!this.ended) return null;
    if (mandatory) {
      throw new PcapFormatError(
        this.offset(),
        this.available === 0 && this.offset() === 0
          ? 'empty file'
          : `input ends inside the ${what}: ${needed} bytes needed, ${this.available} present`,
      );
    }
    if (this.available > 0) {
      this.counters.truncatedAtEnd = 1;
      this.pos = this.buf.length;
    }
    return null;
  }

  private readFileHeader(): boolean {
    if (this.available < 4) return this.incomplete('file header', 4, true) ?? false;
    const b = this.buf;
    const p = this.pos;
    const magicBE = b.readUInt32BE(p);
    if (magicBE === PCAPNG_SHB) {
      this.counters.format = 'pcapng';
      return true;
    }
    const magicLE = b.readUInt32LE(p);
    let littleEndian: boolean;
    let nanosecond: boolean;
    if (magicLE === PCAP_MAGIC_MICRO || magicLE === PCAP_MAGIC_NANO) {
      littleEndian = true;
      nanosecond = magicLE === PCAP_MAGIC_NANO;
    } else if (magicBE === PCAP_MAGIC_MICRO || magicBE === PCAP_MAGIC_NANO) {
      littleEndian = false;
      nanosecond = magicBE === PCAP_MAGIC_NANO;
    } else {
      throw new PcapFormatError(this.offset(), `not a pcap or pcapng file: unknown magic number ${hex32(magicBE)}`);
    }
    if (this.available < PCAP_FILE_HEADER_LENGTH) {
      return this.incomplete('pcap file header', PCAP_FILE_HEADER_LENGTH, true) ?? false;
    }
    const versionMajor = littleEndian ? b.readUInt16LE(p + 4) : b.readUInt16BE(p + 4);
    if (versionMajor !== 2) {
      throw new PcapFormatError(this.offset(p + 4), `unsupported pcap version major ${versionMajor} (expected 2)`);
    }
    this.littleEndian = littleEndian;
    this.nanosecond = nanosecond;
    this.snaplen = littleEndian ? b.readUInt32LE(p + 16) : b.readUInt32BE(p + 16);
    // The upper bits carry the FCS length and flags (pcap spec, LinkType and additional information).
    this.linktype = (littleEndian ? b.readUInt32LE(p + 20) : b.readUInt32BE(p + 20)) & 0xffff;
    this.counters.linktypes.add(this.linktype);
    this.counters.format = 'pcap';
    this.pos += PCAP_FILE_HEADER_LENGTH;
    return true;
  }

  private nextPcapRecord(): PacketRecord | null {
    if (this.available < PCAP_RECORD_HEADER_LENGTH) {
      return this.incomplete('record header', PCAP_RECORD_HEADER_LENGTH, false);
    }
    const b = this.buf;
    const p = this.pos;
    const le = this.littleEndian;
    const tsSec = le ? b.readUInt32LE(p) : b.readUInt32BE(p);
    const tsFrac = le ? b.readUInt32LE(p + 4) : b.readUInt32BE(p + 4);
    const caplen = le ? b.readUInt32LE(p + 8) : b.readUInt32BE(p + 8);
    const origLen = le ? b.readUInt32LE(p + 12) : b.readUInt32BE(p + 12);
    if (caplen > MAX_CAPLEN) {
      throw new PcapFormatError(
        this.offset(p + 8),
        `record captured length ${caplen} exceeds the maximum of ${MAX_CAPLEN} bytes (header snaplen ${this.snaplen})`,
      );
    }
    const total = PCAP_RECORD_HEADER_LENGTH + caplen;
    if (this.available < total) return this.incomplete('record', total, false);
    if (this.snaplen > 0 && caplen > this.snaplen) this.counters.caplenOverSnaplen++;
    const start = p + PCAP_RECORD_HEADER_LENGTH;
    this.pos = p + total;
    this.counters.packets++;
    // A fraction at or over one second is a lie by the writer; carry it into the seconds rather than reject it.
    let sec = tsSec;
    let nsec = this.nanosecond ? tsFrac : tsFrac * 1000;
    if (nsec >= 1_000_000_000) {
      this.counters.invalidTimestamps++;
      sec += Math.floor(nsec / 1_000_000_000);
      nsec %= 1_000_000_000;
    }
    return this.record.set(this.linktype, 0, sec, nsec, caplen, origLen, b, start, this.base + p);
  }

  /** A packet, null when input is needed, undefined when a block without a packet was consumed. */
  private nextPcapngBlock(): PacketRecord | null | undefined {
    // The first section header is the file header: a file that ends inside it is not a capture at all.
    const isFileHeader = this.offset() === 0;
    if (this.available < 12) return this.incomplete('pcapng block header', 12, isFileHeader);
    const b = this.buf;
    const p = this.pos;
    const blockType = this.littleEndian ? b.readUInt32LE(p) : b.readUInt32BE(p);
    if (blockType === PCAPNG_SHB) {
      const orderLE = b.readUInt32LE(p + 8);
      if (orderLE === PCAPNG_BYTE_ORDER_MAGIC) this.littleEndian = true;
      else if (b.readUInt32BE(p + 8) === PCAPNG_BYTE_ORDER_MAGIC) this.littleEndian = false;
      else {
        throw new PcapFormatError(
          this.offset(p + 8),
          `section header block has an invalid byte-order magic ${hex32(b.readUInt32BE(p + 8))}`,
        );
      }
    }
    const le = this.littleEndian;
    const blockLength = le ? b.readUInt32LE(p + 4) : b.readUInt32BE(p + 4);
    if (blockLength < 12) {
      throw new PcapFormatError(this.offset(p + 4), `block total length ${blockLength} is less than 12`);
    }
    if (blockLength % 4 !== 0) {
      throw new PcapFormatError(this.offset(p + 4), `block total length ${blockLength} is not a multiple of 4`);
    }
    const carriesPacketsOrState =
      blockType === PCAPNG_SHB || blockType === PCAPNG_IDB || blockType === PCAPNG_EPB || blockType === PCAPNG_SPB;
    if (blockLength > MAX_BLOCK_LENGTH) {
      if (carriesPacketsOrState) {
        throw new PcapFormatError(
          this.offset(p + 4),
          `block of type ${hex32(blockType)} has total length ${blockLength}, over the limit of ${MAX_BLOCK_LENGTH}`,
        );
      }
      // Too big to buffer and of no use to us: discard it as it streams by (its trailing length goes unchecked).
      this.countSkippedBlock(blockType);
      this.pos += 8;
      this.skipRemaining = blockLength - 8;
      return undefined;
    }
    if (this.available < blockLength) return this.incomplete('pcapng block', blockLength, isFileHeader);
    const trailer = le ? b.readUInt32LE(p + blockLength - 4) : b.readUInt32BE(p + blockLength - 4);
    if (trailer !== blockLength) {
      throw new PcapFormatError(
        this.offset(p + blockLength - 4),
        `block of type ${hex32(blockType)} has total length ${blockLength} at its start but ${trailer} at its end`,
      );
    }
    this.pos = p + blockLength;
    switch (blockType) {
      case PCAPNG_SHB:
        this.readSectionHeader(p, blockLength);
        return undefined;
      case PCAPNG_IDB:
        this.readInterfaceDescription(p, blockLength);
        return undefined;
      case PCAPNG_EPB:
        return this.readEnhancedPacket(p, blockLength);
      case PCAPNG_SPB:
        return this.readSimplePacket(p, blockLength);
      default:
        this.countSkippedBlock(blockType);
        return undefined;
    }
  }

  private countSkippedBlock(blockType: number): void {
    if (blockType === PCAPNG_OPB) this.counters.obsoletePacketBlocks++;
    else this.counters.skippedBlocks++;
  }

  private u16(at: number): number {
    return this.littleEndian ? this.buf.readUInt16LE(at) : this.buf.readUInt16BE(at);
  }

  private u32(at: number): number {
    return this.littleEndian ? this.buf.readUInt32LE(at) : this.buf.readUInt32BE(at);
  }

  private readSectionHeader(p: number, blockLength: number): void {
    if (blockLength < 28) {
      throw new PcapFormatError(this.offset(p + 4), `section header block length ${blockLength} is less than 28`);
    }
    const major = this.u16(p + 12);
    if (major !== 1) {
      throw new PcapFormatError(this.offset(p + 12), `unsupported pcapng version major ${major} (expected 1)`);
    }
    // Interface ids are scoped to a section.
    this.interfaces = [];
  }

  private readInterfaceDescription(p: number, blockLength: number): void {
    if (blockLength < 20) {
      throw new PcapFormatError(
        this.offset(p + 4),
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
          this.offset(o + 2),
          `interface option ${code} of length ${length} overruns its block`,
        );
      }
      if (code === 9 && length >= 1) resolution = this.buf[value] ?? 6;
      else if (code === 14 && length >= 8) {
        const hi = this.littleEndian ? this.buf.readInt32LE(value + 4) : this.buf.readInt32BE(value);
        const lo = this.littleEndian ? this.buf.readUInt32LE(value) : this.buf.readUInt32BE(value + 4);
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
    this.counters.linktypes.add(linktype);
  }

  private interfaceAt(id: number, at: number, block: string): PcapngInterface {
    const iface = this.interfaces[id];
    if (iface === undefined) {
      throw new PcapFormatError(
        this.offset(at),
        `${block} refers to interface ${id} but the section describes ${this.interfaces.length}`,
      );
    }
    return iface;
  }

  private readEnhancedPacket(p: number, blockLength: number): PacketRecord {
    if (blockLength < 32) {
      throw new PcapFormatError(this.offset(p + 4), `enhanced packet block length ${blockLength} is less than 32`);
    }
    const interfaceId = this.u32(p + 8);
    const iface = this.interfaceAt(interfaceId, p + 8, 'enhanced packet block');
    const high = this.u32(p + 12);
    const low = this.u32(p + 16);
    const caplen = this.u32(p + 20);
    const origLen = this.u32(p + 24);
    if (caplen > MAX_CAPLEN) {
      throw new PcapFormatError(
        this.offset(p + 20),
        `enhanced packet captured length ${caplen} exceeds the maximum of ${MAX_CAPLEN} bytes`,
      );
    }
    if (28 + caplen + 4 > blockLength) {
      throw new PcapFormatError(
        this.offset(p + 20),
        `enhanced packet captured length ${caplen} overruns its block of total length ${blockLength}`,
      );
    }
    if (iface.snaplen > 0 && caplen > iface.snaplen) this.counters.caplenOverSnaplen++;
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
    this.counters.packets++;
    this.counters.linktypes.add(iface.linktype);
    return this.record.set(
      iface.linktype,
      interfaceId,
      tsSec,
      tsNsec,
      caplen,
      origLen,
      this.buf,
      p + 28,
      this.base + p,
    );
  }

  private readSimplePacket(p: number, blockLength: number): PacketRecord {
    if (blockLength < 16) {
      throw new PcapFormatError(this.offset(p + 4), `simple packet block length ${blockLength} is less than 16`);
    }
    const iface = this.interfaceAt(0, p, 'simple packet block');
    const origLen = this.u32(p + 8);
    let caplen = Math.min(origLen, blockLength - 16);
    if (iface.snaplen > 0) caplen = Math.min(caplen, iface.snaplen);
    if (caplen > MAX_CAPLEN) {
      throw new PcapFormatError(
        this.offset(p + 8),
        `simple packet length ${caplen} exceeds the maximum of ${MAX_CAPLEN}`,
      );
    }
    this.counters.packets++;
    this.counters.linktypes.add(iface.linktype);
    // A simple packet block has no timestamp.
    return this.record.set(iface.linktype, 0, 0, 0, caplen, origLen, this.buf, p + 12, this.base + p);
  }
}

/** Every packet of a capture held in memory. */
export function* readCaptureBuffer(input: Uint8Array, parser = new CaptureParser()): Generator<CapturedPacket> {
  parser.push(input);
  parser.end();
  for (let packet = parser.next(); packet !== null; packet = parser.next()) yield packet;
}

/** Every packet of a capture arriving in chunks (a file stream, an HTTP body), holding at most one record. */
export async function* readCaptureStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  parser = new CaptureParser(),
): AsyncGenerator<CapturedPacket> {
  for await (const chunk of source) {
    parser.push(chunk);
    for (let packet = parser.next(); packet !== null; packet = parser.next()) yield packet;
  }
  parser.end();
  for (let packet = parser.next(); packet !== null; packet = parser.next()) yield packet;
}

/**
 * Calls onPacket for every packet of a chunked capture. Faster than readCaptureStream for bulk work because it
 * does not pay an async-iteration step per packet. Returns the parser's counters.
 */
export async function forEachCapturedPacket(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  onPacket: (packet: CapturedPacket) => void,
  parser = new CaptureParser(),
): Promise<ReaderCounters> {
  for await (const chunk of source) {
    parser.push(chunk);
    for (let packet = parser.next(); packet !== null; packet = parser.next()) onPacket(packet);
  }
  parser.end();
  for (let packet = parser.next(); packet !== null; packet = parser.next()) onPacket(packet);
  return parser.counters;
}

/**
 * Calls onRecord for every packet of a chunked capture with one reused PacketRecord: the fastest way through a
 * file (no object per packet). Returns the parser's counters.
 */
export async function forEachPacketRecord(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  onRecord: (record: PacketRecord) => void,
  parser = new CaptureParser(),
): Promise<ReaderCounters> {
  for await (const chunk of source) {
    parser.push(chunk);
    for (let record = parser.nextRecord(); record !== null; record = parser.nextRecord()) onRecord(record);
  }
  parser.end();
  for (let record = parser.nextRecord(); record !== null; record = parser.nextRecord()) onRecord(record);
  return parser.counters;
}
