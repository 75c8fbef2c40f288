// Properties of the pcap and pcapng reader (fast-check; runs: lib/src/testing/fuzz.ts):
// - what the writer writes reads back exactly (times, lengths, bytes), whichever resolution and byte order;
// - a file pushed in any chunks reads the same as the whole file;
// - pcapng times are exact for any resolution, count of units and if_tsoffset (the issue-19 times included);
// - any mutation of a valid file either reads or fails with PcapFormatError at an offset inside the file, and every
//   packet it gives lies inside the input, in file order, with a nanosecond part below one second.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { fuzzParameters } from '../testing/fuzz.ts';
import { Pcapng } from './hand-built-captures.ts';
import { type CapturedPacket, CaptureParser, PcapFormatError, readCaptureBuffer } from './reader.ts';
import { PcapWriter } from './writer.ts';

const packetArb = fc.record({
  tsSec: fc.integer({ min: 0, max: 0xffffffff }),
  tsNsec: fc.integer({ min: 0, max: 999_999_999 }),
  data: fc.uint8Array({ maxLength: 300 }),
  extraWire: fc.nat({ max: 2000 }),
});

type ArbPacket = typeof packetArb extends fc.Arbitrary<infer T> ? T : never;

function pcapOf(packets: ArbPacket[], nanosecond: boolean): Buffer {
  const writer = new PcapWriter({ linktype: 1, nanosecond });
  for (const p of packets)
    writer.write({ tsSec: p.tsSec, tsNsec: p.tsNsec, data: p.data, origLen: p.data.length + p.extraWire });
  return writer.toBuffer();
}

/** Every packet, its bytes copied (a packet's data is a view into the reader's input). */
function readAll(parser: CaptureParser, chunks: Uint8Array[]): CapturedPacket[] {
  const out: CapturedPacket[] = [];
  const drain = () => {
    for (let p = parser.next(); p !== null; p = parser.next())
      out.push({ ...p, data: Buffer.from(p.data), tsNs: p.tsNs, tsSeconds: p.tsSeconds } as CapturedPacket);
  };
  for (const chunk of chunks) {
    parser.push(chunk);
    drain();
  }
  parser.end();
  drain();
  return out;
}

const view = (p: CapturedPacket) => ({
  tsSec: p.tsSec,
  tsNsec: p.tsNsec,
  caplen: p.caplen,
  origLen: p.origLen,
  data: Buffer.from(p.data).toString('hex'),
  fileOffset: p.fileOffset,
});

describe('pcap and pcapng reader: properties', () => {
  it('classic pcap: what the writer writes reads back exactly, µs or ns', () => {
    fc.assert(
      fc.property(fc.array(packetArb, { maxLength: 20 }), fc.boolean(), (packets, nanosecond) => {
        const read = [...readCaptureBuffer(pcapOf(packets, nanosecond))];
        assert.equal(read.length, packets.length);
        read.forEach((r, i) => {
          const p = packets[i]!;
          assert.equal(r.tsSec, p.tsSec);
          assert.equal(r.tsNsec, nanosecond ? p.tsNsec : Math.floor(p.tsNsec / 1000) * 1000);
          assert.equal(r.origLen, p.data.length + p.extraWire);
          assert.deepEqual(Buffer.from(r.data), Buffer.from(p.data));
        });
      }),
      fuzzParameters(800),
    );
  });

  it('any chunking of the input reads the same packets as the whole file', () => {
    const fileArb = fc.oneof(
      fc.array(packetArb, { maxLength: 12 }).map((p) => pcapOf(p, true)),
      fc.array(packetArb, { maxLength: 12 }).map((packets) => {
        const file = new Pcapng().shb().idb(1, { tsresol: 9 });
        for (const p of packets) file.epb(0, BigInt(p.tsSec) * 1_000_000_000n + BigInt(p.tsNsec), Buffer.from(p.data));
        return file.build();
      }),
    );
    fc.assert(
      fc.property(fileArb, fc.array(fc.nat(), { maxLength: 12 }), (file, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (file.length + 1)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let from = 0;
        for (const at of [...points, file.length]) {
          chunks.push(file.subarray(from, at));
          from = at;
        }
        assert.deepEqual(
          readAll(new CaptureParser(), chunks).map(view),
          readAll(new CaptureParser(), [file]).map(view),
        );
      }),
      fuzzParameters(800),
    );
  });

  it('pcapng times are exact for any resolution, unit count and if_tsoffset', () => {
    const resolutionArb = fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0x80, max: 0x80 + 40 }));
    fc.assert(
      fc.property(
        resolutionArb,
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.oneof(fc.constant(0n), fc.bigInt({ min: -(1n << 40n), max: 1n << 40n }), fc.constant(1n << 62n)),
        (tsresol, units, tsoffset) => {
          const file = new Pcapng().shb().idb(1, { tsresol, tsoffset }).epb(0, units, Buffer.alloc(20)).build();
          const [p] = [...readCaptureBuffer(file)];
          const perSecond = tsresol & 0x80 ? 1n << BigInt(tsresol & 0x7f) : 10n ** BigInt(tsresol);
          const sec = units / perSecond;
          const expected = sec + tsoffset;
          // Exact while the seconds are a safe integer; beyond 2^53 s (outside any capture-time window) only the
          // nearest doubles can be given, so the sum may round either way.
          if (expected >= -(2n ** 53n) && expected <= 2n ** 53n) assert.equal(p!.tsSec, Number(expected));
          else assert.ok(Math.abs(p!.tsSec - Number(expected)) <= Math.abs(Number(expected)) * 2 ** -50);
          assert.ok(p!.tsNsec >= 0 && p!.tsNsec < 1e9);
          assert.equal(p!.tsNsec, Number(((units - sec * perSecond) * 1_000_000_000n) / perSecond));
        },
      ),
      fuzzParameters(1000),
    );
  });

  it('a mutated file reads, or fails with PcapFormatError inside the file; packets lie inside it, in order', () => {
    const validArb = fc.oneof(
      fc.tuple(fc.array(packetArb, { maxLength: 6 }), fc.boolean()).map(([p, ns]) => pcapOf(p, ns)),
      fc.array(packetArb, { maxLength: 6 }).map((packets) => {
        const file = new Pcapng(packets.length % 2 === 0).shb().idb(1).idb(113, { tsresol: 9, snaplen: 64 });
        packets.forEach((p, i) => {
          file.epb(i % 2, BigInt(p.tsSec) * 1_000_000n, Buffer.from(p.data), { origLen: p.data.length + p.extraWire });
        });
        return file.spb(Buffer.alloc(12)).build();
      }),
    );
    const editArb = fc.record({
      at: fc.nat(),
      kind: fc.integer({ min: 0, max: 4 }),
      value: fc.integer({ min: 0, max: 255 }),
    });
    fc.assert(
      fc.property(validArb, fc.array(editArb, { minLength: 1, maxLength: 6 }), (valid, edits) => {
        const bytes = Array.from(valid);
        for (const e of edits) {
          const at = bytes.length ? e.at % bytes.length : 0;
          if (e.kind === 0) bytes[at] = e.value;
          else if (e.kind === 1) bytes.length = at;
          else if (e.kind === 2) bytes.splice(at, 0, e.value, e.value);
          else if (e.kind === 3) bytes.splice(at, 1 + (e.value % 8));
          else bytes.fill(e.value & 1 ? 0xff : 0, at, at + 4);
        }
        const input = Buffer.from(bytes);
        const parser = new CaptureParser();
        parser.push(input);
        parser.end();
        let lastOffset = -1;
        try {
          for (let p = parser.next(); p !== null; p = parser.next()) {
            assert.equal(p.data.length, p.caplen);
            assert.ok(p.caplen <= input.length);
            assert.ok(p.fileOffset > lastOffset && p.fileOffset < input.length, `offset ${p.fileOffset}`);
            assert.ok(p.tsNsec >= 0 && p.tsNsec < 1e9 && Number.isInteger(p.tsNsec));
            lastOffset = p.fileOffset;
          }
        } catch (err) {
          if (!(err instanceof PcapFormatError)) throw err;
          assert.ok(err.offset >= 0 && err.offset <= input.length, `error offset ${err.offset} of ${input.length}`);
        }
      }),
      fuzzParameters(1500),
    );
  });
});
