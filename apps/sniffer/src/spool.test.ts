import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BATCH_ID_PATTERN } from '@fleetcap/lib/upload/batch-upload';
import { Spool } from './spool.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'fleetcap-spool-test-'));
  dirs.push(d);
  return d;
}
const file = (bytes: number) => Buffer.alloc(bytes, 1);

test('batches come out oldest first and leave the folder when removed', () => {
  const s = new Spool({ dir: dir(), maxBytes: 10_000 });
  const a = s.add(file(100), 1, 1000)!;
  const b = s.add(file(100), 2, 2000)!;
  assert.equal(s.claim(), a);
  assert.equal(s.claim(), b);
  assert.equal(s.claim(), null, 'both are in flight');
  s.release(a);
  assert.equal(a.attempts, 1);
  assert.equal(s.claim(), a, 'a released batch is again the oldest');
  s.remove(a);
  s.remove(b);
  assert.deepEqual(s.counters(), {
    spooled: 0,
    spooledBytes: 0,
    spooledPackets: 0,
    droppedBatches: 0,
    droppedPackets: 0,
    rejectedBatches: 0,
    memoryBytes: 0,
    memoryOnly: 0,
  });
});

test('the bound drops the oldest batches not in flight first, and counts them', () => {
  const d = dir();
  const dropped: string[] = [];
  const s = new Spool({ dir: d, maxBytes: 1000, onDrop: (e) => dropped.push(e.id) });
  const a = s.add(file(400), 10, 1000)!;
  const b = s.add(file(400), 20, 2000)!;
  assert.equal(s.claim(), a, 'a is being uploaded');
  const c = s.add(file(400), 30, 3000)!;
  assert.ok(c);
  assert.deepEqual(dropped, [b.id], 'b, the oldest batch not in flight, made room');
  assert.deepEqual(s.counters(), {
    spooled: 2,
    spooledBytes: 800,
    spooledPackets: 40,
    droppedBatches: 1,
    droppedPackets: 20,
    rejectedBatches: 0,
    memoryBytes: 800,
    memoryOnly: 0,
  });
  assert.equal(readdirSync(d).filter((n) => n.endsWith('.pcap')).length, 2);
  assert.equal(s.add(file(2000), 5), null, 'a batch larger than the bound is itself dropped');
  assert.equal(s.counters().droppedBatches, 2);
  assert.equal(s.counters().droppedPackets, 25);
});

test('when everything is in flight the new batch is dropped, never one in flight', () => {
  const s = new Spool({ dir: dir(), maxBytes: 1000 });
  s.add(file(600), 1, 1000);
  s.claim();
  assert.equal(s.add(file(600), 2, 2000), null);
  assert.equal(s.counters().spooled, 1);
  assert.equal(s.counters().droppedBatches, 1);
});

test('a new spool on the same folder adopts the batches left behind, oldest first, and deletes .tmp files', () => {
  const d = dir();
  const first = new Spool({ dir: d, maxBytes: 10_000 });
  const old1 = first.add(file(10), 3, 5000)!;
  const old2 = first.add(file(10), 4, 6000)!;
  writeFileSync(join(d, 'half.pcap.tmp'), 'x');
  const second = new Spool({ dir: d, maxBytes: 10_000 }, false);
  assert.equal(second.size, 0, 'deferred scan');
  const mine = second.add(file(10), 1, 9000)!;
  assert.equal(second.scan(), 2);
  assert.deepEqual([second.claim()?.id, second.claim()?.id, second.claim()?.id], [old1.id, old2.id, mine.id]);
  assert.equal(second.counters().spooledPackets, 8);
  assert.ok(!readdirSync(d).includes('half.pcap.tmp'));
  assert.equal(second.scan(), 0, 'known batches are not adopted twice');
});

test('a rejected batch moves to rejected/ and is counted; rejected/ keeps only the newest files', () => {
  const d = dir();
  const s = new Spool({ dir: d, maxBytes: 10_000, rejectedKeep: 2 });
  for (let i = 0; i < 3; i++) {
    s.add(file(10), 1, 1000 + i);
    s.reject(s.claim()!);
  }
  assert.equal(s.counters().rejectedBatches, 3);
  assert.equal(s.size, 0);
  assert.equal(readdirSync(join(d, 'rejected')).length, 2);
});

test('batch ids are X-Fleetcap-Batch values splitcap accepts', () => {
  const s = new Spool({ dir: dir(), maxBytes: 10_000 });
  for (const now of [0, 1_700_000_000_000, 9_999_999_999_999]) {
    const id = s.newBatchId(now);
    assert.ok(BATCH_ID_PATTERN.test(id), id);
  }
});

test('a batch is kept in memory for its upload up to memoryMaxBytes, and let go when it leaves the spool', () => {
  const s = new Spool({ dir: dir(), maxBytes: 10_000, memoryMaxBytes: 1000 });
  const a = s.add(file(600), 1)!;
  const b = s.add(file(600), 1)!;
  assert.deepEqual(a.data, file(600), 'the first fits the memory bound: its bytes are at hand');
  assert.equal(b.data, undefined, 'the second does not: its upload reads the file');
  assert.equal(s.counters().memoryBytes, 600);
  s.remove(a);
  assert.equal(a.data, undefined);
  assert.equal(s.counters().memoryBytes, 0);
  assert.ok(s.add(file(600), 1)!.data, 'the memory freed by a batch that left is used by the next');
});

test('writeOnAdd false: a batch in memory gets its file only when it must outlive its first attempt', () => {
  const d = dir();
  const s = new Spool({ dir: d, maxBytes: 10_000, memoryMaxBytes: 1000, writeOnAdd: false });
  const files = () => readdirSync(d).filter((n) => n.endsWith('.pcap'));
  const uploaded = s.add(file(300), 1)!;
  const failed = s.add(file(300), 2)!;
  const unsent = s.add(file(300), 3)!;
  assert.deepEqual(files(), [], 'no file while the batches are only waiting for their first attempt');
  assert.equal(s.counters().memoryOnly, 3);
  const overflow = s.add(file(300), 4)!;
  assert.deepEqual(files(), [`${overflow.id}.n4.pcap`], 'a batch over the memory bound is written at once');
  assert.equal(s.claim(), uploaded);
  s.remove(uploaded);
  assert.equal(s.claim(), failed);
  s.release(failed);
  assert.ok(files().includes(`${failed.id}.n2.pcap`), 'a failed attempt writes the batch for its retries');
  assert.ok(failed.data, 'and its bytes stay at hand for the retry');
  assert.equal(s.persistAll(), 1, 'at exit, the one never attempted');
  assert.deepEqual(files().sort(), [`${failed.id}.n2.pcap`, `${unsent.id}.n3.pcap`, `${overflow.id}.n4.pcap`].sort());
  const next = new Spool({ dir: d, maxBytes: 10_000 });
  assert.equal(next.counters().spooledPackets, 2 + 3 + 4, 'the next sniffer adopts every batch not uploaded');
});

test('writeOnAdd false: a rejected batch is kept under rejected/, a dropped one leaves no file', () => {
  const d = dir();
  const s = new Spool({ dir: d, maxBytes: 700, memoryMaxBytes: 10_000, writeOnAdd: false });
  const refused = s.add(file(300), 1)!;
  s.claim();
  s.reject(refused);
  assert.deepEqual(readdirSync(join(d, 'rejected')), [`${refused.id}.n1.pcap`]);
  s.add(file(300), 2);
  s.add(file(300), 3);
  s.add(file(300), 4);
  assert.equal(s.counters().droppedBatches, 1, 'the oldest dropped for the bound');
  assert.deepEqual(
    readdirSync(d).filter((n) => n.endsWith('.pcap')),
    [],
    'nothing was written for the batches in memory',
  );
});

test('writeOnAdd false: a batch whose file cannot be written stays in memory, is reported, and is still retried', () => {
  const d = dir();
  const errors: string[] = [];
  const s = new Spool({
    dir: d,
    maxBytes: 10_000,
    writeOnAdd: false,
    onWriteError: (e, err) => errors.push(`${e.packets}: ${(err as NodeJS.ErrnoException).code}`),
  });
  const batch = s.add(file(300), 7)!;
  rmSync(d, { recursive: true, force: true }); // the folder gone under the sniffer
  s.claim();
  s.release(batch);
  assert.deepEqual(errors, ['7: ENOENT']);
  assert.equal(batch.onDisk, false);
  assert.equal(s.claim(), batch, 'still the oldest candidate, from memory');
  assert.ok(batch.data);
});
