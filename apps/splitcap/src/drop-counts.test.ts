// Which packets of an acknowledged batch are counted as dropped, and how the counts become packet_drop rows
// (drop-counts.ts); and the records no capture tool writes (original length below the captured length), which the
// decoder skips and counts with their own reason before forecast could refuse their session.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { pcapFile } from '@fleetcap/lib/pcap/hand-built-captures';
import { dropCountKey } from '@fleetcap/lib/session-store/layout';
import type { AppendOutcome } from '@fleetcap/lib/session-store/writer';
import { decodeBatch, MAX_WIRE_LENGTH, WIRE_BELOW_CAPTURED } from './batch-decoder.ts';
import {
  BUCKET_GRACE_SECONDS,
  batchDrops,
  bucketClosed,
  DROP_BUCKET_SECONDS,
  dropBucketStart,
  dropRows,
  NEW_CONNECTION,
  STRAGGLER,
} from './drop-counts.ts';

const outcome = (key: string, status: AppendOutcome['status'], dropped: number): AppendOutcome => ({
  key,
  status,
  appended: status === 'ok' ? 3 : 0,
  dropped,
  reasons: [],
  occurrence: 1,
  communityId: '',
});

describe('batchDrops', () => {
  test('decoder skips count by reason; zero counts are left out', () => {
    assert.deepEqual(batchDrops({ 'not-ip': 2, truncated: 0, [WIRE_BELOW_CAPTURED]: 1 }, [], new Map()), {
      'skipped-not-ip': 2,
      'skipped-wire-length-below-captured': 1,
    });
  });

  test('a classified session’s packets are a drop only where its record did not take them either', () => {
    const outcomes = [outcome('a', 'done', 4), outcome('b', 'done', 5), outcome('c', 'ok', 7), outcome('d', 'dup', 2)];
    // a: the record took none of its 4 (its row was completed); b: the record (still open) took all 5; c: over the
    // stored maximum (in the verdict's count and the record); d: a retried batch stored before.
    const leftOut = new Map([
      ['a', 4],
      ['c', 7],
      ['d', 2],
    ]);
    assert.deepEqual(batchDrops({}, outcomes, leftOut), { [STRAGGLER]: 4 });
  });

  test('without a recorder, every packet the append refused is a drop', () => {
    assert.deepEqual(batchDrops({}, [outcome('a', 'done', 3)], undefined), { [STRAGGLER]: 3 });
  });

  test('packets an ended record refused are new-connection drops, the rest of those it refused stragglers', () => {
    const outcomes = [outcome('a', 'done', 4), outcome('b', 'done', 5), outcome('c', 'ok', 7)];
    const leftOut = new Map([
      ['a', 4],
      ['b', 2],
      ['c', 7],
    ]);
    const ended = new Map([
      ['a', 3],
      ['c', 7],
    ]);
    // c's packets are stored (in the verdict): never a drop, whatever its record did.
    assert.deepEqual(batchDrops({}, outcomes, leftOut, ended), { [STRAGGLER]: 3, [NEW_CONNECTION]: 3 });
  });
});

describe('drop buckets and rows', () => {
  test('buckets are whole 5-minute spans; one closes after its grace', () => {
    const start = Date.UTC(2026, 11, 2, 8, 5, 0) / 1000;
    assert.equal(dropBucketStart(start * 1000 + 299_999), start);
    assert.equal(dropBucketStart(start * 1000 + 300_000), start + DROP_BUCKET_SECONDS);
    const end = (start + DROP_BUCKET_SECONDS + BUCKET_GRACE_SECONDS) * 1000;
    assert.equal(bucketClosed(start, end), false);
    assert.equal(bucketClosed(start, end + 1), true);
  });

  test('a drop hash becomes one row per reason; bad values and foreign keys give none', () => {
    const start = Date.UTC(2026, 11, 2, 8, 5, 0) / 1000;
    const key = dropCountKey('agent/with:odd}chars', start, 'p1');
    assert.deepEqual(dropRows(key, { straggler: '3', 'skipped-not-ip': '0', bogus: 'x' }, 'p1'), [
      { bucketStart: new Date(start * 1000), agent: 'agent/with:odd}chars', reason: 'straggler', packets: 3 },
    ]);
    assert.deepEqual(dropRows(key, { straggler: '3' }, 'other'), []);
    assert.deepEqual(dropRows('p1:drops:{a}:notanumber', { straggler: '3' }, 'p1'), []);
  });
});

describe('records whose original length is below their captured length', () => {
  test('are skipped and counted with their reason; the batch’s other packets are kept', () => {
    const frame = (sport: number) => buildPacket({ proto: 'udp', src: '10.1.0.1', dst: '10.1.0.2', sport, dport: 53 });
    const sec = Math.floor(Date.now() / 1000) - 60;
    const body = pcapFile({
      littleEndian: true,
      nanosecond: false,
      records: [
        { sec, frac: 0, data: frame(5000) },
        { sec, frac: 1, data: frame(5000), origLen: 20 },
        { sec, frac: 2, data: frame(5001) },
      ],
    });
    const batch = decodeBatch(body);
    assert.equal(batch.packetsRead, 3);
    assert.equal(batch.wireBelowCaptured, 1);
    assert.equal(
      Object.values(batch.skipped).reduce((a, b) => a + b, 0),
      0,
      'no decoder reason',
    );
    assert.equal(batch.packetsSessionized, 2);
    assert.equal(batch.sessions.size, 2);
    for (const s of batch.sessions.values()) assert.equal(s.packets, 1);
  });
});

describe('records whose original length is over 2^31-1 bytes', () => {
  test('are skipped and counted with their reason, at the bound kept', () => {
    const frame = (sport: number) => buildPacket({ proto: 'udp', src: '10.1.0.1', dst: '10.1.0.2', sport, dport: 53 });
    const sec = Math.floor(Date.now() / 1000) - 60;
    const body = pcapFile({
      littleEndian: true,
      nanosecond: false,
      records: [
        { sec, frac: 0, data: frame(5000), origLen: MAX_WIRE_LENGTH },
        { sec, frac: 1, data: frame(5000), origLen: MAX_WIRE_LENGTH + 1 },
        { sec, frac: 2, data: frame(5001), origLen: 0xffffffff },
      ],
    });
    const batch = decodeBatch(body);
    assert.equal(batch.packetsRead, 3);
    assert.equal(batch.wireOverMax, 2);
    assert.equal(batch.wireBelowCaptured, 0);
    assert.equal(batch.packetsSessionized, 1);
    assert.equal(batch.sessions.size, 1);
  });
});
