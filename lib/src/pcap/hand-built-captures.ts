// Capture files built byte by byte for the reader's tests, including the broken ones no writer would produce, and
// the two checks every test of the reader makes: read it all, or fail with a PcapFormatError at an exact offset.
import assert from 'node:assert/strict';
import { PcapFormatError } from './errors.ts';
import { CaptureParser, readCaptureBuffer } from './reader.ts';

export function pcapFile(opts: {
  littleEndian: boolean;
  nanosecond: boolean;
  linktype?: number;
  snaplen?: number;
  versionMajor?: number;
  records: Array<{ sec: number; frac: number; data: Buffer; origLen?: number; caplen?: number }>;
}): Buffer {
  const le = opts.littleEndian;
  const header = Buffer.alloc(24);
  const w32 = (b: Buffer, v: number, at: number) => (le ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at));
  const w16 = (b: Buffer, v: number, at: number) => (le ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
  w32(header, opts.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w16(header, opts.versionMajor ?? 2, 4);
  w16(header, 4, 6);
  w32(header, opts.snaplen ?? 65535, 16);
  w32(header, opts.linktype ?? 1, 20);
  const parts: Buffer[] = [header];
  for (const r of opts.records) {
    const rh = Buffer.alloc(16);
    w32(rh, r.sec, 0);
    w32(rh, r.frac, 4);
    w32(rh, r.caplen ?? r.data.length, 8);
    w32(rh, r.origLen ?? r.data.length, 12);
    parts.push(rh, r.data);
  }
  return Buffer.concat(parts);
}

export class Pcapng {
  private readonly parts: Buffer[] = [];
  constructor(private littleEndian = true) {}

  private w32(b: Buffer, v: number, at: number) {
    if (this.littleEndian) b.writeUInt32LE(v >>> 0, at);
    else b.writeUInt32BE(v >>> 0, at);
  }

  private w16(b: Buffer, v: number, at: number) {
    if (this.littleEndian) b.writeUInt16LE(v, at);
    else b.writeUInt16BE(v, at);
  }

  option(code: number, value: Buffer): Buffer {
    const padded = Buffer.alloc(4 + ((value.length + 3) & ~3));
    this.w16(padded, code, 0);
    this.w16(padded, value.length, 2);
    value.copy(padded, 4);
    return padded;
  }

  block(type: number, body: Buffer, overrides: { length?: number; trailer?: number } = {}): this {
    const length = 12 + body.length;
    const block = Buffer.alloc(length);
    this.w32(block, type, 0);
    this.w32(block, overrides.length ?? length, 4);
    body.copy(block, 8);
    this.w32(block, overrides.trailer ?? overrides.length ?? length, length - 4);
    this.parts.push(block);
    return this;
  }

  shb(littleEndian = this.littleEndian): this {
    this.littleEndian = littleEndian;
    const body = Buffer.alloc(16);
    this.w32(body, 0x1a2b3c4d, 0);
    this.w16(body, 1, 4);
    this.w16(body, 0, 6);
    body.fill(0xff, 8, 16);
    return this.block(0x0a0d0d0a, body);
  }

  idb(linktype: number, opts: { snaplen?: number; tsresol?: number; tsoffset?: bigint } = {}): this {
    const fixed = Buffer.alloc(8);
    this.w16(fixed, linktype, 0);
    this.w32(fixed, opts.snaplen ?? 0, 4);
    const options: Buffer[] = [];
    if (opts.tsresol !== undefined) options.push(this.option(9, Buffer.from([opts.tsresol])));
    if (opts.tsoffset !== undefined) {
      const value = Buffer.alloc(8);
      if (this.littleEndian) value.writeBigInt64LE(opts.tsoffset);
      else value.writeBigInt64BE(opts.tsoffset);
      options.push(this.option(14, value));
    }
    if (options.length) options.push(Buffer.alloc(4));
    return this.block(1, Buffer.concat([fixed, ...options]));
  }

  epb(interfaceId: number, units: bigint, data: Buffer, opts: { origLen?: number; caplen?: number } = {}): this {
    const fixed = Buffer.alloc(20);
    this.w32(fixed, interfaceId, 0);
    this.w32(fixed, Number(units >> 32n), 4);
    this.w32(fixed, Number(units & 0xffffffffn), 8);
    this.w32(fixed, opts.caplen ?? data.length, 12);
    this.w32(fixed, opts.origLen ?? data.length, 16);
    const padded = Buffer.alloc((data.length + 3) & ~3);
    data.copy(padded);
    return this.block(6, Buffer.concat([fixed, padded, this.option(1, Buffer.from('comment')), Buffer.alloc(4)]));
  }

  spb(data: Buffer, origLen = data.length): this {
    const fixed = Buffer.alloc(4);
    this.w32(fixed, origLen, 0);
    const padded = Buffer.alloc((data.length + 3) & ~3);
    data.copy(padded);
    return this.block(3, Buffer.concat([fixed, padded]));
  }

  raw(bytes: Buffer): this {
    this.parts.push(bytes);
    return this;
  }

  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export function readAll(input: Buffer) {
  const parser = new CaptureParser();
  const packets = [...readCaptureBuffer(input, parser)];
  return { packets, counters: parser.counters };
}

export function expectFormatError(input: Buffer, offset: number, reason: RegExp) {
  assert.throws(
    () => readAll(input),
    (error: unknown) => {
      assert.ok(error instanceof PcapFormatError, `expected PcapFormatError, got ${error}`);
      assert.equal(error.offset, offset, `offset of: ${error.message}`);
      assert.match(error.reason, reason);
      return true;
    },
  );
}

export const frameA = Buffer.from('00112233445566778899aabb0800450000', 'hex');
export const frameB = Buffer.from('ffeeddccbbaa', 'hex');
