// Classic pcap writer (little-endian, microsecond or nanosecond timestamps): what the sniffer writes its batches in,
// so that tcpdump, tshark and our own reader all read them.
import { MAX_CAPLEN } from './capture-input.ts';

export interface PcapWriterOptions {
  linktype: number;
  /** Snapshot length announced in the header; records longer than this are cut to it. Default MAX_CAPLEN. */
  snaplen?: number;
  /** Write the nanosecond-resolution magic (0xa1b23c4d) instead of the microsecond one. */
  nanosecond?: boolean;
}

export interface PacketToWrite {
  /** Whole seconds since the epoch. */
  tsSec: number;
  /** Nanoseconds within the second; rounded down to microseconds in a microsecond file. */
  tsNsec: number;
  data: Uint8Array;
  /** Length on the wire; defaults to data.length. */
  origLen?: number;
}

export function encodePcapFileHeader(options: PcapWriterOptions): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(options.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeInt32LE(0, 8);
  header.writeUInt32LE(0, 12);
  header.writeUInt32LE(options.snaplen ?? MAX_CAPLEN, 16);
  header.writeUInt32LE(options.linktype, 20);
  return header;
}

/** One record (header and captured bytes) as a single Buffer. */
export function encodePcapRecord(packet: PacketToWrite, options: PcapWriterOptions): Buffer {
  const snaplen = options.snaplen ?? MAX_CAPLEN;
  const caplen = Math.min(packet.data.length, snaplen);
  const record = Buffer.allocUnsafe(16 + caplen);
  writeRecordHeader(record, 0, packet, caplen, options.nanosecond === true);
  record.set(packet.data.subarray(0, caplen), 16);
  return record;
}

function writeRecordHeader(target: Buffer, at: number, packet: PacketToWrite, caplen: number, nanosecond: boolean) {
  target.writeUInt32LE(packet.tsSec >>> 0, at);
  target.writeUInt32LE(nanosecond ? packet.tsNsec : Math.floor(packet.tsNsec / 1000), at + 4);
  target.writeUInt32LE(caplen, at + 8);
  target.writeUInt32LE(packet.origLen ?? packet.data.length, at + 12);
}

/**
 * True when the classic-pcap record whose header starts at buffer[headerAt] holds exactly what PcapWriter.write
 * would write for these fields in a little-endian microsecond file with this snaplen: then it can be appended
 * verbatim (writeVerbatim), which is how the sniffer batches tcpdump's output without a copy per packet.
 */
export function isVerbatimRecord(
  buffer: Buffer,
  headerAt: number,
  fields: { tsSec: number; tsNsec: number; caplen: number; origLen: number },
  snaplen: number,
): boolean {
  return (
    headerAt >= 0 &&
    fields.caplen <= snaplen &&
    fields.tsNsec % 1000 === 0 &&
    buffer.readUInt32LE(headerAt) === fields.tsSec &&
    buffer.readUInt32LE(headerAt + 4) === fields.tsNsec / 1000 &&
    buffer.readUInt32LE(headerAt + 8) === fields.caplen &&
    buffer.readUInt32LE(headerAt + 12) === fields.origLen
  );
}

/**
 * Accumulates packets into one pcap file in memory (a sniffer batch). toBuffer() returns the file so far; the writer
 * can go on after it.
 */
export class PcapWriter {
  private readonly chunks: Buffer[];
  private bytes: number;
  /** Records appended verbatim and not yet in chunks: spanBuffer[spanStart, spanEnd), grown while they are contiguous. */
  private spanBuffer: Buffer | null = null;
  private spanStart = 0;
  private spanEnd = 0;
  private count = 0;
  private readonly snaplen: number;

  constructor(private readonly options: PcapWriterOptions) {
    this.snaplen = options.snaplen ?? MAX_CAPLEN;
    const header = encodePcapFileHeader(options);
    this.chunks = [header];
    this.bytes = header.length;
  }

  write(packet: PacketToWrite): void {
    this.closeSpan();
    const caplen = Math.min(packet.data.length, this.snaplen);
    const header = Buffer.allocUnsafe(16);
    writeRecordHeader(header, 0, packet, caplen, this.options.nanosecond === true);
    // The data is copied: callers (libpcap bindings) reuse their capture buffer.
    this.chunks.push(header, Buffer.from(packet.data.subarray(0, caplen)));
    this.bytes += 16 + caplen;
    this.count++;
  }

  /**
   * Appends one record that is already in this file's encoding (little-endian, the file's timestamp resolution,
   * caplen within the snaplen): `buffer[start, start + 16 + caplen)`, header and bytes. No copy until toBuffer(), so
   * the caller must never rewrite those bytes (a stream's chunks, which are never reused); records that follow one
   * another in one buffer are kept as one span. The caller checks the encoding (see isVerbatimRecord).
   */
  writeVerbatim(buffer: Buffer, start: number, caplen: number): void {
    const end = start + 16 + caplen;
    if (this.spanBuffer !== buffer || this.spanEnd !== start) {
      this.closeSpan();
      this.spanBuffer = buffer;
      this.spanStart = start;
    }
    this.spanEnd = end;
    this.bytes += 16 + caplen;
    this.count++;
  }

  private closeSpan(): void {
    if (this.spanBuffer === null) return;
    this.chunks.push(this.spanBuffer.subarray(this.spanStart, this.spanEnd));
    this.spanBuffer = null;
  }

  get packetCount(): number {
    return this.count;
  }

  get byteLength(): number {
    return this.bytes;
  }

  toBuffer(): Buffer {
    this.closeSpan();
    return Buffer.concat(this.chunks, this.bytes);
  }
}
