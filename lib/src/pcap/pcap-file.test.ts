// Classic pcap through the reader: both byte orders and resolutions, the header's fields, and every lie a record
// can tell.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expectFormatError, frameA, frameB, pcapFile, readAll } from './hand-built-captures.ts';
import { type CapturedPacket, MAX_CAPLEN } from './reader.ts';
import { encodePcapFileHeader } from './writer.ts';

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

  it('rejects a short file header and an unknown version', () => {
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
