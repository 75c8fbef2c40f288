// The sweeper's decision: over by Zeek's rules on the capture clock estimated from the wall clock since splitcap
// stored the record; another occurrence or no record is gone; a record claimed before is completed again.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConnRecord } from '@fleetcap/lib/session-record/conn-state';
import { RecordFormatError, type StoredRecord } from '@fleetcap/lib/session-store/record-store';
import { decideSweep } from './record-sweep.ts';

const message = { agent: 'a', key: 'udp/10.0.0.1/5000/10.0.0.2/6000', occurrence: 7, communityId: '', look: 1 };
const t0 = 1_700_000_000_000_000;

function udpRecord(): ConnRecord {
  const r = ConnRecord.start(17, 5000, 6000, { timeUs: t0, fromInitiator: true, ipLength: 40, payloadLength: 12 });
  r.add({ timeUs: t0 + 1000, fromInitiator: false, ipLength: 40, payloadLength: 12 });
  return r;
}

function stored(over: Partial<StoredRecord> = {}): StoredRecord {
  return {
    version: 2,
    record: udpRecord().serialize(),
    occurrence: 7,
    initiator: 0,
    communityId: '',
    seenMs: 1_000_000,
    ended: false,
    completing: false,
    ...over,
  };
}

describe('the sweeper decides', () => {
  test('a UDP connection quiet for less than its idle timeout waits; past it, it is complete', () => {
    const timeouts = { tcpUs: 300e6, udpUs: 60e6, otherUs: 60e6 };
    assert.equal(decideSweep(message, { record: stored(), done: true }, 1_000_000 + 59_000, timeouts).kind, 'wait');
    const d = decideSweep(message, { record: stored(), done: true }, 1_000_000 + 61_000, timeouts);
    assert.equal(d.kind, 'complete');
    assert.equal(d.kind === 'complete' && d.record.connState, 'SF');
    assert.equal(
      decideSweep(message, { record: stored(), done: true }, 1_000_000 + 4_000, { ...timeouts, udpUs: 3e6 }).kind,
      'complete',
    );
  });

  test('an ended or claimed record is complete at once; none, or another occurrence, is gone; garbage is corrupt', () => {
    assert.equal(decideSweep(message, { record: stored({ ended: true }), done: true }, 1_000_000).kind, 'complete');
    const claimed = decideSweep(message, { record: stored({ completing: true }), done: true }, 1_000_000);
    assert.equal(claimed.kind === 'complete' && claimed.claimed, true);
    assert.equal(decideSweep(message, { record: undefined, done: true }, 1_000_000).kind, 'gone');
    assert.equal(decideSweep(message, { record: stored({ occurrence: 8 }), done: true }, 1_000_000).kind, 'gone');
    assert.equal(decideSweep(message, { record: stored({ record: 'x' }), done: true }, 1_000_000).kind, 'corrupt');
    assert.equal(decideSweep(message, new RecordFormatError('bad'), 1_000_000).kind, 'corrupt');
  });
});
