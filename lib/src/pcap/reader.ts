// The capture reader: one streaming parser for classic pcap and pcapng. It reads the magic number of the input's
// first four bytes and hands the rest to the reader of that format (pcap-file.ts, pcapng-file.ts, each opening with
// the grammar it parses); the helpers below drive it over a buffer or a stream.
//
// Memory stays bounded: the parser only ever holds the unread tail of the input, which is never more than one
// record or block, and a record or block larger than the limits (MAX_CAPLEN, MAX_BLOCK_LENGTH) is rejected (or, for
// blocks that carry no packet, skipped without buffering). Every structural lie throws a PcapFormatError with its
// file offset; a record cut short by the end of the input is counted, because that is how tcpdump leaves a file it
// was killed writing.
import { type CaptureFile, CaptureInput, hex32, type ReaderCounters } from './capture-input.ts';
import { PcapFormatError } from './errors.ts';
import type { CapturedPacket, PacketRecord } from './packet-record.ts';
import { PcapFile, pcapMagic } from './pcap-file.ts';
import { isPcapngStart, PcapngFile } from './pcapng-file.ts';

export { type CaptureFormat, MAX_CAPLEN, type ReaderCounters } from './capture-input.ts';
export { PcapFormatError } from './errors.ts';
export { CapturedPacket, PacketRecord } from './packet-record.ts';
export { MAX_BLOCK_LENGTH } from './pcapng-file.ts';

/**
 * Push-based parser: feed chunks with push(), call next() until it returns null, repeat; call end() once the input
 * is exhausted and drain next() again. It never holds more than one record or block of unread input.
 */
export class CaptureParser {
  private readonly input = new CaptureInput();
  readonly counters: ReaderCounters = this.input.counters;
  /** The reader of the input's format, once its magic number has arrived. */
  private file: CaptureFile | undefined;

  push(chunk: Uint8Array): void {
    if (this.input.ended) throw new Error('CaptureParser.push after end()');
    this.input.push(chunk);
  }

  end(): void {
    this.input.ended = true;
  }

  /**
   * Gives back the bytes pushed but not yet consumed (less than one record or block) and forgets them. For callers
   * that read into one buffer of their own: they put these bytes at the start of the buffer, read after them and
   * push the whole, so that no chunk is ever copied or allocated. Only for the nextRecord path: views handed out
   * by next() would see the buffer being overwritten.
   */
  takeUnread(): Buffer {
    return this.input.takeUnread();
  }

  /** Bytes buffered but not yet consumed: bounded by one record or block. */
  get bufferedBytes(): number {
    return this.input.available;
  }

  /** The next packet, or null when more input is needed (or, after end(), when the input is exhausted). */
  next(): CapturedPacket | null {
    return this.nextRecord()?.toPacket() ?? null;
  }

  /** Like next(), without allocating: the returned record is rewritten by the next call. */
  nextRecord(): PacketRecord | null {
    const file = this.file ?? this.openFile();
    return file === undefined ? null : file.nextRecord();
  }

  /** The reader for the magic number at the start of the input; undefined while fewer than 4 bytes arrived. */
  private openFile(): CaptureFile | undefined {
    const input = this.input;
    if (input.available < 4) return input.incomplete('file header', 4, true) ?? undefined;
    if (isPcapngStart(input.buf, input.pos)) {
      this.file = new PcapngFile(input);
      return this.file;
    }
    const magic = pcapMagic(input.buf, input.pos);
    if (magic === undefined) {
      const found = hex32(input.buf.readUInt32BE(input.pos));
      throw new PcapFormatError(input.offset(), `not a pcap or pcapng file: unknown magic number ${found}`);
    }
    this.file = new PcapFile(input, magic);
    return this.file;
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
