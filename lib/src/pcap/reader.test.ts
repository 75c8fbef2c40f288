// The reader's entry: which format the magic number picks, and the streaming paths (chunked input, one reused
// record, one reused buffer) over both formats.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { PcapFormatError } from './errors.ts';
import { expectFormatError, frameA, frameB, Pcapng, pcapFile, readAll } from './hand-built-captures.ts';
import { CaptureParser, forEachCapturedPacket, forEachPacketRecord, readCaptureStream } from './reader.ts';

describe('magic number', () => {
  it('rejects an unknown magic and an empty file', () => {
    expectFormatError(Buffer.from('hello, world, this is not a capture'), 0, /unknown magic number 0x68656c6c/);
    expectFormatError(Buffer.alloc(0), 0, /empty file/);
  });
});

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
