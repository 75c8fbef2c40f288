import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CaptureParser, readCaptureBuffer } from '@fleetcap/lib/pcap/reader';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { Batcher, type ClosedBatch, type Timers } from './batcher.ts';

/** Manual timers: fire() runs the pending timer, as if maxMs had passed. */
function manualTimers() {
  let pending: { fn: () => void; ms: number } | null = null;
  let sets = 0;
  const timers: Timers = {
    set(fn, ms) {
      sets++;
      pending = { fn, ms };
      return pending;
    },
    clear(h) {
      if (h === pending) pending = null;
    },
  };
  return {
    timers,
    fire() {
      const p = pending;
      pending = null;
      p?.fn();
    },
    get armed() {
      return pending !== null;
    },
    get sets() {
      return sets;
    },
  };
}

const pkt = (i: number, linktype = 1) => ({
  linktype,
  tsSec: 1_700_000_000 + i,
  tsNsec: i * 1000,
  data: Buffer.from(`packet-${i}`),
  origLen: 100 + i,
});

function setup(maxPackets: number, maxMs = 1000) {
  const batches: ClosedBatch[] = [];
  const t = manualTimers();
  const b = new Batcher({ maxPackets, maxMs, snaplen: 65535, onBatch: (x) => batches.push(x), timers: t.timers });
  return { b, batches, t };
}

test('a batch closes at N packets and the pcap file holds them, timestamps and wire lengths kept', () => {
  const { b, batches, t } = setup(3);
  for (let i = 0; i < 7; i++) b.add(pkt(i));
  assert.deepEqual(
    batches.map((x) => [x.packets, x.reason]),
    [
      [3, 'count'],
      [3, 'count'],
    ],
  );
  assert.equal(b.pending, 1);
  assert.ok(t.armed, 'the open batch has its timer');
  const packets = [...readCaptureBuffer(batches[1]!.file)];
  assert.deepEqual(
    packets.map((p) => [p.data.toString(), p.tsSec, p.tsNsec, p.origLen, p.linktype]),
    [3, 4, 5].map((i) => [`packet-${i}`, 1_700_000_000 + i, i * 1000, 100 + i, 1]),
  );
});

test('a batch closes T ms after its first packet when N is not reached; no empty batches', () => {
  const { b, batches, t } = setup(100, 250);
  assert.equal(t.armed, false, 'no timer without packets');
  b.add(pkt(0));
  b.add(pkt(1));
  t.fire();
  assert.deepEqual(
    batches.map((x) => [x.packets, x.reason]),
    [[2, 'time']],
  );
  assert.equal(t.armed, false, 'the next timer starts with the next packet');
  b.flush();
  assert.equal(batches.length, 1, 'flush of an empty batch produces nothing');
  b.add(pkt(2));
  b.flush();
  assert.deepEqual(batches[1]!.reason, 'flush');
  assert.equal(t.armed, false, 'flush clears the timer');
});

test('closing at N clears the timer, so that the next batch gets its full T', () => {
  const { b, t } = setup(2, 1000);
  b.add(pkt(0));
  b.add(pkt(1));
  assert.equal(t.armed, false);
  b.add(pkt(2));
  assert.equal(t.sets, 2);
});

test('a link type change closes the batch (one pcap file has one link type)', () => {
  const { b, batches } = setup(100);
  b.add(pkt(0, 1));
  b.add(pkt(1, 113));
  b.flush();
  assert.deepEqual(
    batches.map((x) => [x.packets, x.linktype, x.reason]),
    [
      [1, 1, 'linktype'],
      [1, 113, 'flush'],
    ],
  );
});

test('N = 1 makes a batch per packet', () => {
  const { b, batches } = setup(1);
  for (let i = 0; i < 4; i++) b.add(pkt(i));
  assert.equal(batches.length, 4);
});

test('a batch closes before maxBytes: the file never exceeds it, and no packet is lost', () => {
  const batches: ClosedBatch[] = [];
  const b = new Batcher({
    maxPackets: 1000,
    maxMs: 60_000,
    maxBytes: 24 + 3 * (16 + 100),
    snaplen: 100,
    onBatch: (x) => batches.push(x),
    timers: manualTimers().timers,
  });
  for (let i = 0; i < 7; i++) b.add({ linktype: 1, tsSec: 1, tsNsec: i, data: new Uint8Array(100), origLen: 100 });
  b.flush();
  assert.deepEqual(
    batches.map((x) => x.packets),
    [3, 3, 1],
  );
  assert.deepEqual(
    batches.map((x) => x.reason),
    ['bytes', 'bytes', 'flush'],
  );
  for (const x of batches) assert.ok(x.file.length <= 24 + 3 * 116, `${x.file.length} bytes`);
});

test("tcpdump's records are batched as they came: the batch file is byte for byte the stream, in any chunking", () => {
  const w = new PcapWriter({ linktype: 1, snaplen: 65535 });
  for (let i = 0; i < 7; i++) w.write(pkt(i));
  const stream = w.toBuffer();
  const { b, batches } = setup(4);
  const parser = new CaptureParser();
  // Chunks that cut records anywhere, as a pipe does.
  for (let at = 0; at < stream.length; at += 13) {
    parser.push(stream.subarray(at, at + 13));
    for (let r = parser.nextRecord(); r !== null; r = parser.nextRecord()) b.addRecord(r, true);
  }
  b.flush();
  assert.deepEqual(
    batches.map((x) => x.packets),
    [4, 3],
  );
  const again = [...readCaptureBuffer(batches[0]!.file), ...readCaptureBuffer(batches[1]!.file)];
  const original = [...readCaptureBuffer(stream)];
  assert.deepEqual(
    again.map((p) => [p.tsSec, p.tsNsec, p.origLen, p.data.toString()]),
    original.map((p) => [p.tsSec, p.tsNsec, p.origLen, p.data.toString()]),
  );
  assert.deepEqual(
    batches[0]!.file.subarray(24),
    stream.subarray(24, 24 + 4 * 16 + again.slice(0, 4).reduce((n, p) => n + p.caplen, 0)),
  );
});

test('a record not in the batch encoding (nanosecond stream) is re-encoded, not copied', () => {
  const w = new PcapWriter({ linktype: 1, snaplen: 65535, nanosecond: true });
  w.write({ ...pkt(1), tsNsec: 123_456_789 });
  const { b, batches } = setup(10);
  const parser = new CaptureParser();
  parser.push(w.toBuffer());
  for (let r = parser.nextRecord(); r !== null; r = parser.nextRecord()) b.addRecord(r, true);
  b.flush();
  const [p] = [...readCaptureBuffer(batches[0]!.file)];
  assert.equal(p!.tsNsec, 123_456_000, 'the batch is a microsecond file: the time is rounded down, as add() does');
  assert.equal(p!.data.toString(), 'packet-1');
});
