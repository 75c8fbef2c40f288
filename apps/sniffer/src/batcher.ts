// Groups captured packets into pcap batch files: a batch closes at maxPackets packets, maxBytes bytes of file (below
// splitcap's body limit: a batch over it would be refused with 413 and never resent) or maxMs milliseconds after
// its first packet, whichever comes first (or when the link type changes, or on flush()). Empty batches are never
// produced. Timers are injectable so that the N/T logic is tested without waiting.
import type { PacketRecord } from '@fleetcap/lib/pcap/reader';
import { isVerbatimRecord, PcapWriter } from '@fleetcap/lib/pcap/writer';

export interface PacketIn {
  linktype: number;
  tsSec: number;
  tsNsec: number;
  data: Uint8Array;
  origLen: number;
}

export type CloseReason = 'count' | 'bytes' | 'time' | 'flush' | 'linktype';

export interface ClosedBatch {
  file: Buffer;
  packets: number;
  linktype: number;
  reason: CloseReason;
}

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface BatcherOptions {
  maxPackets: number;
  maxMs: number;
  /** The file never exceeds this (pcap header plus every record); default: no cap. */
  maxBytes?: number;
  snaplen: number;
  onBatch: (batch: ClosedBatch) => void;
  timers?: Timers;
}

export class Batcher {
  private writer: PcapWriter | null = null;
  private linktype = -1;
  private timer: unknown = null;
  private readonly timers: Timers;

  constructor(private readonly options: BatcherOptions) {
    if (options.maxPackets < 1) throw new Error('maxPackets must be at least 1');
    if (options.maxMs < 1) throw new Error('maxMs must be at least 1');
    if (options.maxBytes !== undefined && options.maxBytes < 24 + 16 + options.snaplen)
      throw new Error(`maxBytes must hold at least one packet of the snaplen (${24 + 16 + options.snaplen} bytes)`);
    this.timers = options.timers ?? realTimers;
  }

  /** Packets in the open batch. */
  get pending(): number {
    return this.writer?.packetCount ?? 0;
  }

  add(packet: PacketIn): void {
    const writer = this.writerFor(packet.linktype, packet.data.length);
    writer.write({ tsSec: packet.tsSec, tsNsec: packet.tsNsec, data: packet.data, origLen: packet.origLen });
    if (writer.packetCount >= this.options.maxPackets) this.close('count');
  }

  /**
   * Like add(), for a record of a capture parser (valid only during the call). A classic-pcap record already in the
   * batch file's encoding (tcpdump's own output on a little-endian host) is appended as it is, without a copy until
   * the batch closes: the sniffer's cost per packet is then a few header reads. `classicPcap`: the record comes from
   * a classic pcap stream (its 16-byte header precedes the data); any other record is re-encoded.
   */
  addRecord(record: PacketRecord, classicPcap: boolean): void {
    const writer = this.writerFor(record.linktype, record.caplen);
    const headerAt = record.dataStart - 16;
    if (classicPcap && isVerbatimRecord(record.buffer, headerAt, record, this.options.snaplen))
      writer.writeVerbatim(record.buffer, headerAt, record.caplen);
    else
      writer.write({
        tsSec: record.tsSec,
        tsNsec: record.tsNsec,
        data: record.buffer.subarray(record.dataStart, record.dataStart + record.caplen),
        origLen: record.origLen,
      });
    if (writer.packetCount >= this.options.maxPackets) this.close('count');
  }

  /** The open batch's writer for a packet of this link type and captured length (closing the open one if needed). */
  private writerFor(linktype: number, caplen: number): PcapWriter {
    if (this.writer !== null && linktype !== this.linktype) this.close('linktype');
    // A pcap record is a 16-byte header and the captured bytes; the file header is 24.
    const recordBytes = 16 + Math.min(caplen, this.options.snaplen);
    if (this.writer !== null && this.writer.byteLength + recordBytes > (this.options.maxBytes ?? Infinity))
      this.close('bytes');
    if (this.writer === null) {
      this.writer = new PcapWriter({ linktype, snaplen: this.options.snaplen });
      this.linktype = linktype;
      this.timer = this.timers.set(() => {
        this.timer = null;
        this.close('time');
      }, this.options.maxMs);
    }
    return this.writer;
  }

  /** Closes the open batch now, if it has packets. */
  flush(): void {
    this.close('flush');
  }

  private close(reason: CloseReason): void {
    if (this.timer !== null) {
      this.timers.clear(this.timer);
      this.timer = null;
    }
    const writer = this.writer;
    this.writer = null;
    if (writer === null || writer.packetCount === 0) return;
    this.options.onBatch({ file: writer.toBuffer(), packets: writer.packetCount, linktype: this.linktype, reason });
  }
}
