// What a capture reader hands out, whatever the file format: one packet with its link type, capture time, lengths
// and bytes, either as an object of its own (CapturedPacket) or in one object rewritten for every packet
// (PacketRecord).
const EMPTY = Buffer.alloc(0);

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
