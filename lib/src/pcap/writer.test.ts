// The pcap writer, read back through the reader.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { frameA, frameB, readAll } from './hand-built-captures.ts';
import { type CapturedPacket, readCaptureBuffer } from './reader.ts';
import { isVerbatimRecord, PcapWriter } from './writer.ts';

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
  it('appends records verbatim as one span while they follow each other, and knows which records it may', () => {
    const source = new PcapWriter({ linktype: 1, snaplen: 1000 });
    source.write({ tsSec: 1_700_000_000, tsNsec: 5_000, data: frameA });
    source.write({ tsSec: 1_700_000_001, tsNsec: 6_000, data: frameB, origLen: 60 });
    const stream = source.toBuffer();
    const first = { tsSec: 1_700_000_000, tsNsec: 5_000, caplen: frameA.length, origLen: frameA.length };
    assert.ok(isVerbatimRecord(stream, 24, first, 1000));
    assert.equal(isVerbatimRecord(stream, 24, first, frameA.length - 1), false, 'caplen over the snaplen');
    assert.equal(isVerbatimRecord(stream, 24, { ...first, tsNsec: 5_001 }, 1000), false, 'not whole µs');
    assert.equal(isVerbatimRecord(stream, 24, { ...first, origLen: 99 }, 1000), false, 'another header');
    const copy = new PcapWriter({ linktype: 1, snaplen: 1000 });
    copy.writeVerbatim(stream, 24, frameA.length);
    copy.writeVerbatim(stream, 24 + 16 + frameA.length, frameB.length);
    assert.equal(copy.packetCount, 2);
    assert.deepEqual(copy.toBuffer(), stream, 'the same file, byte for byte');
  });
});
