// What the two format readers (pcap-file.ts, pcapng-file.ts) share: the window of input pushed but not yet read,
// the counters, and how the end of input inside a structure is reported.
//
// Memory stays bounded: the window only ever holds the unread tail of the input, which is never more than one
// record or block, because a format reader consumes every whole record or block before asking for more.
import { PcapFormatError } from './errors.ts';
import { PacketRecord } from './packet-record.ts';

/** Largest captured length accepted, as in libpcap and Wireshark (MAXIMUM_SNAPLEN). */
export const MAX_CAPLEN = 256 * 1024;

const EMPTY = Buffer.alloc(0);

export type CaptureFormat = 'pcap' | 'pcapng';

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

/** A reader of one file format over a CaptureInput. */
export interface CaptureFile {
  /** The next packet, or null when more input is needed (or, after end(), when the input is exhausted). */
  nextRecord(): PacketRecord | null;
}

export function hex32(value: number): string {
  return `0x${(value >>> 0).toString(16).padStart(8, '0')}`;
}

/**
 * The unread input: buf[pos..] are the bytes pushed and not yet consumed, buf[0] is at file offset `base`. Format
 * readers read buf directly from pos and advance pos past what they consumed.
 */
export class CaptureInput {
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
  /** The one record every packet is handed out in. */
  readonly record = new PacketRecord();

  buf: Buffer = EMPTY;
  pos = 0;
  /** File offset of buf[0]. */
  base = 0;
  ended = false;

  push(chunk: Uint8Array): void {
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

  takeUnread(): Buffer {
    const unread = this.buf.subarray(this.pos);
    this.base += this.pos;
    this.buf = EMPTY;
    this.pos = 0;
    return unread;
  }

  get available(): number {
    return this.buf.length - this.pos;
  }

  offset(at = this.pos): number {
    return this.base + at;
  }

  /**
   * Reports the end of input while a structure was incomplete; returns null for the caller's convenience. Before
   * end() that only means "push more". After it, a mandatory structure (a file header) throws; anything else is a
   * record cut short, counted and dropped.
   */
  incomplete(what: string, needed: number, mandatory: boolean): null {
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
}
