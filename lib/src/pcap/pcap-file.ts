// Classic pcap (libpcap's savefile; draft-ietf-opsawg-pcap), every field in the byte order the magic number is
// read in, little- or big-endian:
//
// File => FileHeader [Record]
//   FileHeader => magic version_major version_minor reserved1 reserved2 snaplen linktype        (24 bytes)
//     magic => UINT32          0xa1b2c3d4: microsecond timestamps; 0xa1b23c4d: nanosecond timestamps
//     version_major => UINT16  must be 2
//     version_minor => UINT16  ignored
//     reserved1 => UINT32      ignored (was thiszone)
//     reserved2 => UINT32      ignored (was sigfigs)
//     snaplen => UINT32        only compared with each caplen (counted when exceeded); never sizes anything
//     linktype => UINT32       the low 16 bits; the upper bits (FCS length, flags) are dropped
//   Record => ts_sec ts_frac caplen origlen data                                              (16 bytes + data)
//     ts_sec => UINT32         seconds since the epoch
//     ts_frac => UINT32        micro- or nanoseconds per the magic; a second or more is carried into ts_sec, counted
//     caplen => UINT32         bytes of data; over MAX_CAPLEN is an error
//     origlen => UINT32        length on the wire
//     data => BYTES[caplen]
//
// A record cut short by the end of the input is counted and dropped (tcpdump killed mid-write); a file that ends
// inside its file header is an error. Every packet is on interface 0 with the header's link type.
import { type CaptureFile, type CaptureInput, MAX_CAPLEN } from './capture-input.ts';
import { PcapFormatError } from './errors.ts';
import type { PacketRecord } from './packet-record.ts';

const MAGIC_MICROSECOND = 0xa1b2c3d4;
const MAGIC_NANOSECOND = 0xa1b23c4d;
const FILE_HEADER_LENGTH = 24;
const RECORD_HEADER_LENGTH = 16;

export interface PcapMagic {
  littleEndian: boolean;
  nanosecond: boolean;
}

/** What the 4 bytes at buf[at] say if they are a pcap magic number, in either byte order; undefined if not. */
export function pcapMagic(buf: Buffer, at: number): PcapMagic | undefined {
  const magicLE = buf.readUInt32LE(at);
  if (magicLE === MAGIC_MICROSECOND || magicLE === MAGIC_NANOSECOND) {
    return { littleEndian: true, nanosecond: magicLE === MAGIC_NANOSECOND };
  }
  const magicBE = buf.readUInt32BE(at);
  if (magicBE === MAGIC_MICROSECOND || magicBE === MAGIC_NANOSECOND) {
    return { littleEndian: false, nanosecond: magicBE === MAGIC_NANOSECOND };
  }
  return undefined;
}

/** Reads a pcap file from its first byte, which holds the magic number pcapMagic recognised. */
export class PcapFile implements CaptureFile {
  private readonly littleEndian: boolean;
  private readonly nanosecond: boolean;
  private headerRead = false;
  private snaplen = 0;
  private linktype = 0;

  constructor(
    private readonly input: CaptureInput,
    magic: PcapMagic,
  ) {
    this.littleEndian = magic.littleEndian;
    this.nanosecond = magic.nanosecond;
  }

  nextRecord(): PacketRecord | null {
    if (!this.headerRead && !this.readFileHeader()) return null;
    return this.readRecord();
  }

  private readFileHeader(): boolean {
    const input = this.input;
    if (input.available < FILE_HEADER_LENGTH) {
      return input.incomplete('pcap file header', FILE_HEADER_LENGTH, true) ?? false;
    }
    const b = input.buf;
    const p = input.pos;
    const le = this.littleEndian;
    const versionMajor = le ? b.readUInt16LE(p + 4) : b.readUInt16BE(p + 4);
    if (versionMajor !== 2) {
      throw new PcapFormatError(input.offset(p + 4), `unsupported pcap version major ${versionMajor} (expected 2)`);
    }
    this.snaplen = le ? b.readUInt32LE(p + 16) : b.readUInt32BE(p + 16);
    // The upper bits carry the FCS length and flags (pcap spec, LinkType and additional information).
    this.linktype = (le ? b.readUInt32LE(p + 20) : b.readUInt32BE(p + 20)) & 0xffff;
    input.counters.linktypes.add(this.linktype);
    input.counters.format = 'pcap';
    input.pos += FILE_HEADER_LENGTH;
    this.headerRead = true;
    return true;
  }

  private readRecord(): PacketRecord | null {
    const input = this.input;
    if (input.available < RECORD_HEADER_LENGTH) {
      return input.incomplete('record header', RECORD_HEADER_LENGTH, false);
    }
    const b = input.buf;
    const p = input.pos;
    const le = this.littleEndian;
    const tsSec = le ? b.readUInt32LE(p) : b.readUInt32BE(p);
    const tsFrac = le ? b.readUInt32LE(p + 4) : b.readUInt32BE(p + 4);
    const caplen = le ? b.readUInt32LE(p + 8) : b.readUInt32BE(p + 8);
    const origLen = le ? b.readUInt32LE(p + 12) : b.readUInt32BE(p + 12);
    if (caplen > MAX_CAPLEN) {
      throw new PcapFormatError(
        input.offset(p + 8),
        `record captured length ${caplen} exceeds the maximum of ${MAX_CAPLEN} bytes (header snaplen ${this.snaplen})`,
      );
    }
    const total = RECORD_HEADER_LENGTH + caplen;
    if (input.available < total) return input.incomplete('record', total, false);
    const counters = input.counters;
    if (this.snaplen > 0 && caplen > this.snaplen) counters.caplenOverSnaplen++;
    const start = p + RECORD_HEADER_LENGTH;
    input.pos = p + total;
    counters.packets++;
    // A fraction at or over one second is a lie by the writer; carry it into the seconds rather than reject it.
    let sec = tsSec;
    let nsec = this.nanosecond ? tsFrac : tsFrac * 1000;
    if (nsec >= 1_000_000_000) {
      counters.invalidTimestamps++;
      sec += Math.floor(nsec / 1_000_000_000);
      nsec %= 1_000_000_000;
    }
    return input.record.set(this.linktype, 0, sec, nsec, caplen, origLen, b, start, input.base + p);
  }
}
