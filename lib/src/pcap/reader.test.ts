import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { PcapFormatError } from './errors.ts';
import {
  type CapturedPacket,
  CaptureParser,
  forEachCapturedPacket,
  forEachPacketRecord,
  MAX_BLOCK_LENGTH,
  MAX_CAPLEN,
  readCaptureBuffer,
  readCaptureStream,
} from './reader.ts';
import { encodePcapFileHeader, PcapWriter } from './writer.ts';

// ---- hand-built files -------------------------------------------------------------------------------------------

function pcapFile(opts: {
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

class Pcapng {
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

function readAll(input: Buffer) {
  const parser = new CaptureParser();
  const packets = [...readCaptureBuffer(input, parser)];
  return { packets, counters: parser.counters };
}

function expectFormatError(input: Buffer, offset: number, reason: RegExp) {
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

const frameA = Buffer.from('00112233445566778899aabb0800450000', 'hex');
const frameB = Buffer.from('ffeeddccbbaa', 'hex');

// ---- classic pcap --------------------------------------------------------------------------------------------------

describe('pcap reader', () => {
  for (const littleEndian of [true, false]) {
    for (const nanosecond of [false, true]) {
      it(`${littleEndian ? 'little' : 'big'}-endian, ${nanosecond ? 'nano' : 'micro'}second`, () => {
        const file = pcapFile({
          littleEndian,
          nanosecond,
          linktype: 113,
          records: [
            { sec: 1_700_000_000, frac: nanosecond ? 123_456_789 : 123_456, data: frameA, origLen: 1514 },
            { sec: 1_700_000_001, frac: 5, data: frameB },
          ],
        });
        const { packets, counters } = readAll(file);
        assert.equal(counters.format, 'pcap');
        assert.equal(counters.packets, 2);
        assert.deepEqual([...counters.linktypes], [113]);
        const [a, b] = packets as [CapturedPacket, CapturedPacket];
        assert.equal(a.linktype, 113);
        assert.equal(a.caplen, frameA.length);
        assert.equal(a.origLen, 1514);
        assert.deepEqual(a.data, frameA);
        assert.equal(a.fileOffset, 24);
        assert.equal(a.tsNs, 1_700_000_000_000_000_000n + (nanosecond ? 123_456_789n : 123_456_000n));
        assert.equal(a.tsSeconds, 1_700_000_000 + (nanosecond ? 0.123456789 : 0.123456));
        assert.equal(b.tsNs, 1_700_000_001_000_000_000n + (nanosecond ? 5n : 5000n));
        assert.equal(b.fileOffset, 24 + 16 + frameA.length);
      });
    }
  }

  it('keeps the FCS bits out of the link type', () => {
    const file = pcapFile({ littleEndian: true, nanosecond: false, linktype: 0x10000001, records: [] });
    assert.deepEqual([...readAll(file).counters.linktypes], [1]);
  });

  it('keeps and counts a record longer than the header snaplen, as libpcap and tshark do', () => {
    const file = pcapFile({
      littleEndian: true,
      nanosecond: false,
      snaplen: 8,
      records: [{ sec: 1, frac: 0, data: frameA }],
    });
    const { packets, counters } = readAll(file);
    assert.equal(packets.length, 1);
    assert.equal(counters.caplenOverSnaplen, 1);
  });

  it('counts a sub-second field of a second or more and carries it into the seconds', () => {
    const file = pcapFile({
      littleEndian: true,
      nanosecond: false,
      records: [
        { sec: 10, frac: 1_000_000, data: frameB },
        { sec: 10, frac: 0x80000000, data: frameB },
      ],
    });
    const { packets, counters } = readAll(file);
    assert.equal(counters.invalidTimestamps, 2);
    assert.deepEqual(
      packets.map((p) => p.tsNs),
      [11_000_000_000n, 10_000_000_000n + 2_147_483_648_000n],
    );
  });

  it('reads a file whose header snaplen is 0 or absurd, since snaplen never sizes an allocation', () => {
    for (const snaplen of [0, 0xffffffff]) {
      const file = pcapFile({
        littleEndian: true,
        nanosecond: false,
        snaplen,
        records: [{ sec: 1, frac: 0, data: frameB }],
      });
      assert.equal(readAll(file).packets.length, 1);
    }
  });

  it('counts a record cut by the end of the file and keeps the records before it', () => {
    const file = pcapFile({
      littleEndian: true,
      nanosecond: false,
      records: [
        { sec: 1, frac: 0, data: frameA },
        { sec: 2, frac: 0, data: frameB },
      ],
    });
    for (const cut of [1, 5, 16, 18]) {
      const { packets, counters } = readAll(file.subarray(0, file.length - cut));
      assert.equal(packets.length, 1, `cut ${cut}`);
      assert.equal(counters.truncatedAtEnd, 1);
    }
    assert.equal(readAll(file).counters.truncatedAtEnd, 0);
  });

  it('rejects a record whose captured length is over 256 KiB with its offset', () => {
    const file = pcapFile({
      littleEndian: false,
      nanosecond: false,
      records: [
        { sec: 1, frac: 0, data: frameA },
        { sec: 1, frac: 0, data: frameB, caplen: MAX_CAPLEN + 1 },
      ],
    });
    expectFormatError(file, 24 + 16 + frameA.length + 8, /captured length 262145 exceeds the maximum/);
  });

  it('rejects an unknown magic, an empty file, a short header and an unknown version', () => {
    expectFormatError(Buffer.from('hello, world, this is not a capture'), 0, /unknown magic number 0x68656c6c/);
    expectFormatError(Buffer.alloc(0), 0, /empty file/);
    expectFormatError(encodePcapFileHeader({ linktype: 1 }).subarray(0, 10), 0, /inside the pcap file header/);
    expectFormatError(
      pcapFile({ littleEndian: true, nanosecond: false, versionMajor: 3, records: [] }),
      4,
      /version major 3/,
    );
  });

  it('reads a file of headers only', () => {
    assert.equal(readAll(encodePcapFileHeader({ linktype: 1 })).packets.length, 0);
  });
});

// ---- pcapng --------------------------------------------------------------------------------------------------------

describe('pcapng reader', () => {
  for (const littleEndian of [true, false]) {
    it(`${littleEndian ? 'little' : 'big'}-endian section, several interfaces, link types and resolutions`, () => {
      const file = new Pcapng(littleEndian)
        .shb()
        .idb(1, { snaplen: 65535 })
        .idb(113, { tsresol: 9 })
        .idb(101, { tsresol: 0x80 | 10, tsoffset: 100n })
        .block(4, Buffer.alloc(8)) // name resolution block: skipped
        .epb(0, 1_700_000_000_123_456n, frameA, { origLen: 1500 })
        .epb(1, 1_700_000_000_123_456_789n, frameB)
        .epb(2, 1024n * 5n + 512n, frameB)
        .block(5, Buffer.alloc(12)) // interface statistics: skipped
        .block(0x0bad, Buffer.alloc(4)) // unknown: skipped
        .spb(frameA)
        .build();
      const { packets, counters } = readAll(file);
      assert.equal(counters.format, 'pcapng');
      assert.equal(packets.length, 4);
      assert.equal(counters.skippedBlocks, 3);
      assert.deepEqual([...counters.linktypes].sort(), [1, 101, 113]);
      const [a, b, c, d] = packets as [CapturedPacket, CapturedPacket, CapturedPacket, CapturedPacket];
      assert.equal(a.linktype, 1);
      assert.equal(a.tsNs, 1_700_000_000_123_456_000n);
      assert.equal(a.origLen, 1500);
      assert.deepEqual(a.data, frameA);
      assert.equal(b.linktype, 113);
      assert.equal(b.interfaceId, 1);
      assert.equal(b.tsNs, 1_700_000_000_123_456_789n);
      assert.deepEqual(b.data, frameB);
      assert.equal(c.linktype, 101);
      // 2^-10 s units: 5.5 s, plus an if_tsoffset of 100 s
      assert.equal(c.tsNs, 105_500_000_000n);
      assert.equal(d.linktype, 1);
      assert.equal(d.origLen, frameA.length);
      assert.deepEqual(d.data, frameA);
    });
  }

  it('a second section may switch byte order and resets the interfaces', () => {
    const first = new Pcapng(true).shb().idb(1).epb(0, 1n, frameA).build();
    const second = new Pcapng(false).shb().idb(228, { tsresol: 3 }).epb(0, 1500n, frameB).build();
    const { packets } = readAll(Buffer.concat([first, second]));
    assert.deepEqual(
      packets.map((p) => [p.linktype, p.tsNs]),
      [
        [1, 1000n],
        [228, 1_500_000_000n],
      ],
    );
  });

  it('a simple packet block that claims more than it holds yields what it holds, cut to the snaplen', () => {
    const lying = readAll(new Pcapng().shb().idb(1).spb(frameA, 2000).build()).packets[0];
    assert.equal(lying?.origLen, 2000);
    assert.equal(lying?.caplen, 20); // the block's data area, padding included: all there is
    const cut = readAll(new Pcapng().shb().idb(1, { snaplen: 8 }).spb(frameA).build()).packets[0];
    assert.deepEqual(cut?.data, frameA.subarray(0, 8));
  });

  it('counts obsolete packet blocks and does not read them', () => {
    const { packets, counters } = readAll(new Pcapng().shb().idb(1).block(2, Buffer.alloc(24)).build());
    assert.equal(packets.length, 0);
    assert.equal(counters.obsoletePacketBlocks, 1);
  });

  it('rejects a block length that is not a multiple of 4, below 12, or different at the end', () => {
    const base = new Pcapng().shb().idb(1).build();
    const at = base.length;
    expectFormatError(
      Buffer.concat([base, new Pcapng().block(6, Buffer.alloc(30), { length: 42 }).build()]),
      at + 4,
      /42 is not a multiple of 4/,
    );
    expectFormatError(
      Buffer.concat([base, new Pcapng().block(6, Buffer.alloc(4), { length: 8 }).build()]),
      at + 4,
      /8 is less than 12/,
    );
    expectFormatError(
      Buffer.concat([base, new Pcapng().block(6, Buffer.alloc(32), { trailer: 40 }).build()]),
      at + 40,
      /44 at its start but 40 at its end/,
    );
  });

  it('rejects an EPB whose captured length overruns its block or the 256 KiB limit', () => {
    const base = new Pcapng().shb().idb(1).build();
    expectFormatError(
      Buffer.concat([base, new Pcapng().epb(0, 0n, frameB, { caplen: 200 }).build()]),
      base.length + 20,
      /captured length 200 overruns its block/,
    );
    expectFormatError(
      Buffer.concat([base, new Pcapng().epb(0, 0n, frameB, { caplen: MAX_CAPLEN + 4 }).build()]),
      base.length + 20,
      /exceeds the maximum/,
    );
  });

  it('rejects an EPB on an undescribed interface and a packet block before any interface', () => {
    expectFormatError(
      new Pcapng().shb().idb(1).epb(3, 0n, frameA).build(),
      28 + 20 + 8,
      /interface 3 but the section describes 1/,
    );
    expectFormatError(new Pcapng().shb().spb(frameA).build(), 28, /interface 0 but the section describes 0/);
  });

  it('rejects a section header with a bad byte-order magic or version', () => {
    const shb = new Pcapng().shb().build();
    const badMagic = Buffer.from(shb);
    badMagic.writeUInt32LE(0x12345678, 8);
    expectFormatError(badMagic, 8, /invalid byte-order magic/);
    const badVersion = Buffer.from(shb);
    badVersion.writeUInt16LE(2, 12);
    expectFormatError(badVersion, 12, /version major 2/);
  });

  it('rejects an interface option that overruns its block', () => {
    const file = new Pcapng().shb().build();
    const idb = Buffer.alloc(20);
    idb.writeUInt32LE(1, 0);
    idb.writeUInt32LE(20 + 8, 4);
    idb.writeUInt16LE(1, 8);
    idb.writeUInt16LE(9, 16);
    idb.writeUInt16LE(200, 18);
    const tail = Buffer.alloc(8);
    tail.writeUInt32LE(28, 4);
    expectFormatError(Buffer.concat([file, idb, tail]), file.length + 18, /option 9 of length 200 overruns/);
  });

  it('skips an oversized unknown block as it streams by, but rejects an oversized packet block', async () => {
    const head = new Pcapng().shb().idb(1).build();
    const big = Buffer.alloc(MAX_BLOCK_LENGTH + 64);
    big.writeUInt32LE(0x40000bad, 0);
    big.writeUInt32LE(big.length, 4);
    big.writeUInt32LE(big.length, big.length - 4);
    const tail = new Pcapng().epb(0, 7n, frameA).build();
    const parser = new CaptureParser();
    const chunks = [head, big.subarray(0, 1000), big.subarray(1000), tail];
    const packets: CapturedPacket[] = [];
    let maxBuffered = 0;
    for (const chunk of chunks) {
      parser.push(chunk);
      for (let p = parser.next(); p; p = parser.next()) packets.push(p);
      maxBuffered = Math.max(maxBuffered, parser.bufferedBytes);
    }
    parser.end();
    assert.equal(parser.next(), null);
    assert.equal(packets.length, 1);
    assert.equal(parser.counters.skippedBlocks, 1);
    assert.ok(maxBuffered < 1000, `buffered ${maxBuffered}`);
    big.writeUInt32LE(6, 0);
    expectFormatError(Buffer.concat([head, big]), head.length + 4, /over the limit/);
  });

  it('rejects a file that ends inside its section header block', () => {
    const shb = new Pcapng().shb().build();
    expectFormatError(shb.subarray(0, 6), 0, /inside the pcapng block header: 12 bytes needed, 6 present/);
    expectFormatError(shb.subarray(0, 20), 0, /inside the pcapng block: 28 bytes needed, 20 present/);
  });

  it('counts a block cut by the end of the file', () => {
    const file = new Pcapng().shb().idb(1).epb(0, 1n, frameA).epb(0, 2n, frameB).build();
    const { packets, counters } = readAll(file.subarray(0, file.length - 3));
    assert.equal(packets.length, 1);
    assert.equal(counters.truncatedAtEnd, 1);
  });
});

// ---- streaming -----------------------------------------------------------------------------------------------------

describe('streaming', () => {
  const pcap = pcapFile({
    littleEndian: true,
    nanosecond: true,
    records: Array.from({ length: 50 }, (_, i) => ({ sec: i, frac: i, data: Buffer.alloc(i * 7, i) })),
  });
  const pcapng = new Pcapng(false)
    .shb()
    .idb(1)
    .idb(276, { tsresol: 9 })
    .epb(0, 1n, frameA)
    .epb(1, 2n, frameB)
    .block(5, Buffer.alloc(20))
    .spb(frameB)
    .build();

  for (const [name, file] of [
    ['pcap', pcap],
    ['pcapng', pcapng],
  ] as const) {
    it(`${name}: any chunking yields the same packets as the whole buffer, holding at most one record`, async () => {
      const expected = readAll(file).packets.map((p) => [p.tsNs, p.linktype, p.origLen, p.data.toString('hex')]);
      for (const chunkSize of [1, 3, 16, 17, 100, 4096]) {
        const chunks: Buffer[] = [];
        for (let i = 0; i < file.length; i += chunkSize) chunks.push(file.subarray(i, i + chunkSize));
        const parser = new CaptureParser();
        const got = [];
        let maxBuffered = 0;
        for (const chunk of chunks) {
          parser.push(chunk);
          for (let p = parser.next(); p; p = parser.next())
            got.push([p.tsNs, p.linktype, p.origLen, p.data.toString('hex')]);
          maxBuffered = Math.max(maxBuffered, parser.bufferedBytes);
        }
        parser.end();
        assert.equal(parser.next(), null);
        assert.deepEqual(got, expected, `chunk size ${chunkSize}`);
        assert.ok(maxBuffered <= 16 + 49 * 7 + chunkSize, `buffered ${maxBuffered} with chunks of ${chunkSize}`);
      }
    });
  }

  it('nextRecord and forEachPacketRecord give the same packets without an object per packet', async () => {
    const expected = readAll(pcapng).packets.map((p) => [p.tsNs, p.linktype, p.origLen, p.data.toString('hex')]);
    const seen: unknown[] = [];
    const records = new Set<object>();
    await forEachPacketRecord([pcapng.subarray(0, 70), pcapng.subarray(70)], (r) => {
      records.add(r);
      seen.push([
        r.toPacket().tsNs,
        r.linktype,
        r.origLen,
        r.buffer.toString('hex', r.dataStart, r.dataStart + r.caplen),
      ]);
    });
    assert.deepEqual(seen, expected);
    assert.equal(records.size, 1, 'one record object, rewritten');
  });

  it('takeUnread lets a caller read through one reused buffer and get the same records', () => {
    for (const file of [pcap, pcapng]) {
      const expected = readAll(file).packets.map((p) => [
        p.tsNs,
        p.linktype,
        p.origLen,
        p.fileOffset,
        p.data.toString('hex'),
      ]);
      for (const readSize of [1, 7, 64, 1000]) {
        const parser = new CaptureParser();
        const buffer = Buffer.alloc(readSize + 16 + 49 * 7);
        const got = [];
        let carried = 0;
        let position = 0;
        for (;;) {
          const length = Math.min(readSize, file.length - position);
          file.copy(buffer, carried, position, position + length);
          position += length;
          if (length === 0) {
            if (carried > 0) parser.push(buffer.subarray(0, carried));
            parser.end();
          } else {
            parser.push(buffer.subarray(0, carried + length));
          }
          for (let r = parser.nextRecord(); r; r = parser.nextRecord()) {
            got.push([
              r.toPacket().tsNs,
              r.linktype,
              r.origLen,
              r.fileOffset,
              r.buffer.toString('hex', r.dataStart, r.dataStart + r.caplen),
            ]);
          }
          if (length === 0) break;
          const unread = parser.takeUnread();
          carried = unread.length;
          buffer.copyWithin(0, unread.byteOffset - buffer.byteOffset, unread.byteOffset - buffer.byteOffset + carried);
        }
        assert.deepEqual(got, expected, `read size ${readSize}`);
        assert.equal(parser.counters.truncatedAtEnd, 0);
      }
    }
  });

  it('readCaptureStream and forEachCapturedPacket read a Node stream', async () => {
    const chunks = [pcapng.subarray(0, 50), pcapng.subarray(50, 51), pcapng.subarray(51)];
    const viaGenerator = [];
    for await (const p of readCaptureStream(Readable.from(chunks))) viaGenerator.push(p.tsNs);
    const viaCallback: bigint[] = [];
    const counters = await forEachCapturedPacket(Readable.from(chunks), (p) => viaCallback.push(p.tsNs));
    assert.deepEqual(viaGenerator, [1000n, 2n, 0n]);
    assert.deepEqual(viaCallback, viaGenerator);
    assert.equal(counters.skippedBlocks, 1);
  });

  it('a stream that ends mid-header reports it with the offset', async () => {
    await assert.rejects(
      forEachCapturedPacket(Readable.from([pcap.subarray(0, 20)]), () => {}),
      (error: unknown) => error instanceof PcapFormatError && error.offset === 0,
    );
  });

  it('never throws anything but PcapFormatError, and never hangs, on mutated files', () => {
    let seed = 99;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (const original of [pcap, pcapng]) {
      for (let i = 0; i < 3000; i++) {
        const file = Buffer.from(original.subarray(0, random() % (original.length + 1)));
        for (let m = 0; m < 1 + (i % 4); m++) file[random() % Math.max(1, file.length)] = random() & 0xff;
        try {
          readAll(file);
        } catch (error) {
          assert.ok(error instanceof PcapFormatError, String(error));
        }
      }
    }
  });
});

// ---- writer --------------------------------------------------------------------------------------------------------

describe('pcap writer', () => {
  for (const nanosecond of [false, true]) {
    it(`round-trips through the reader (${nanosecond ? 'nano' : 'micro'}seconds)`, () => {
      const writer = new PcapWriter({ linktype: 276, snaplen: 10, nanosecond });
      writer.write({ tsSec: 1_700_000_000, tsNsec: 987_654_321, data: frameA });
      writer.write({ tsSec: 1_700_000_001, tsNsec: 1_000, data: frameB, origLen: 60 });
      assert.equal(writer.packetCount, 2);
      const file = writer.toBuffer();
      assert.equal(file.length, writer.byteLength);
      const { packets, counters } = readAll(file);
      assert.deepEqual([...counters.linktypes], [276]);
      const [a, b] = packets as [CapturedPacket, CapturedPacket];
      assert.equal(a.tsNs, 1_700_000_000_000_000_000n + (nanosecond ? 987_654_321n : 987_654_000n));
      assert.equal(a.caplen, 10);
      assert.equal(a.origLen, frameA.length);
      assert.deepEqual(a.data, frameA.subarray(0, 10));
      assert.equal(b.origLen, 60);
      assert.deepEqual(b.data, frameB);
    });
  }

  it('copies the data it is given (capture buffers get reused)', () => {
    const writer = new PcapWriter({ linktype: 1 });
    const data = Buffer.from(frameB);
    writer.write({ tsSec: 0, tsNsec: 0, data });
    data.fill(0);
    assert.deepEqual([...readCaptureBuffer(writer.toBuffer())][0]?.data, frameB);
  });
});
