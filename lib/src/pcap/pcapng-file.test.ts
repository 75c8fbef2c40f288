// pcapng through the reader: sections in either byte order, interfaces and their resolutions, the packet blocks,
// the blocks skipped, and every lie a block can tell.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expectFormatError, frameA, frameB, Pcapng, readAll } from './hand-built-captures.ts';
import { type CapturedPacket, CaptureParser, MAX_BLOCK_LENGTH, MAX_CAPLEN } from './reader.ts';

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
