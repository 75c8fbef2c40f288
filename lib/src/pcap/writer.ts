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
 * Accumulates packets into one pcap file in memory (a sniffer batch). toBuffer() returns the file so far; the writer
 * can go on after it.
 */
export class PcapWriter {
  private readonly chunks: Buffer[];
  private bytes: number;
  private count = 0;
  private readonly snaplen: number;

  constructor(private readonly options: PcapWriterOptions) {
    this.snaplen = options.snaplen ?? MAX_CAPLEN;
    const header = encodePcapFileHeader(options);
    this.chunks = [header];
    this.bytes = header.length;
  }

  write(packet: PacketToWrite): void {
    const caplen = Math.min(packet.data.length, this.snaplen);
    const header = Buffer.allocUnsafe(16);
    writeRecordHeader(header, 0, packet, caplen, this.options.nanosecond === true);
    // The data is copied: callers (libpcap bindings) reuse their capture buffer.
    this.chunks.push(header, Buffer.from(packet.data.subarray(0, caplen)));
    this.bytes += 16 + caplen;
    this.count++;
  }

  get packetCount(): number {
    return this.count;
  }

  get byteLength(): number {
    return this.bytes;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.bytes);
  }
}
