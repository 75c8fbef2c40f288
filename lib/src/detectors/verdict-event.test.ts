import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TCP_ACK, TCP_PSH, TCP_RST, TCP_SYN } from '../packet/decode.ts';
import type { LoadedSession } from '../session-store/reader.ts';
import { attemptOutcome } from './detector-session.ts';
import { syntheticSession } from './synthetic.ts';
import {
  decodeVerdictEvent,
  detectorSessionOfLoaded,
  encodeVerdictEvent,
  VerdictEventError,
  verdictEventSchema,
} from './verdict-event.ts';

function loaded(packets: Array<[0 | 1, number, number]>, packetsSeen = packets.length): LoadedSession {
  return {
    message: {
      key: 'tcp/10.0.0.1/40000/10.0.0.2/22',
      agent: 'a1',
      communityId: '1:x=',
      reason: 'closed',
      occurrence: 1,
      enqueuedAt: 0,
    },
    proto: 'tcp',
    client: { address: '10.0.0.1', port: 40000 },
    server: { address: '10.0.0.2', port: 22 },
    agent: 'a1',
    communityId: '1:x=',
    occurrence: 1,
    firstUs: 1_000_000,
    lastUs: 2_000_000,
    packetsSeen,
    bytes: 500,
    packets: packets.map(([direction, tcpFlags, payloadLength], seq) => ({
      seq,
      direction,
      tsUs: 1_000_000 + seq,
      wireLength: 60,
      payloadLength,
      tcpFlags,
      linktype: -1,
      frame: Buffer.alloc(0),
    })),
  };
}

describe('verdict events', () => {
  it('summarise the kept packets per side, as the detectors read them', () => {
    const probe = detectorSessionOfLoaded(
      loaded([
        [0, TCP_SYN, 0],
        [1, TCP_RST | TCP_ACK, 0],
      ]),
      'portscan',
      0.9,
    );
    assert.equal(attemptOutcome(probe), 'rejected');
    assert.equal(probe.packetsFromSrc, 1);
    assert.equal(probe.label, 'portscan');
    const talk = detectorSessionOfLoaded(
      loaded([
        [0, TCP_SYN, 0],
        [1, TCP_SYN | TCP_ACK, 0],
        [0, TCP_ACK | TCP_PSH, 40],
        [1, TCP_ACK | TCP_PSH, 300],
      ]),
      'benign',
      0.99,
    );
    assert.equal(attemptOutcome(talk), 'data');
    assert.equal(talk.srcPayloadBytes, 40);
    assert.equal(talk.dstPayloadBytes, 300);
    // 30 SYNs seen, 24 kept, none answered: still unanswered.
    const flood = detectorSessionOfLoaded(
      loaded(
        Array.from({ length: 24 }, () => [0, TCP_SYN, 0]),
        30,
      ),
      'synflood',
      1,
    );
    assert.equal(attemptOutcome(flood), 'unanswered');
  });

  it('round-trip, and a bad event is refused with the field, its value and what is allowed', () => {
    const s = syntheticSession('half-open', { label: 'synflood', score: 0.7 });
    assert.deepEqual(decodeVerdictEvent(encodeVerdictEvent(s)), s);
    const bad = (fields: Record<string, unknown>) =>
      Buffer.from(JSON.stringify({ ...JSON.parse(encodeVerdictEvent(s).toString()), ...fields }));
    assert.throws(() => decodeVerdictEvent(Buffer.from('nope')), /verdict event is not JSON: "nope"/);
    assert.throws(() => decodeVerdictEvent(bad({ v: 2 })), /field v = 2: must be 1: a worker of another version/);
    assert.throws(() => decodeVerdictEvent(bad({ agent: 'a/b' })), /field agent = "a\/b": must be an agent id/);
    assert.throws(() => decodeVerdictEvent(bad({ dport: 70000 })), /field dport = 70000/);
    assert.throws(() => decodeVerdictEvent(bad({ communityId: 'x{y}' })), /must be a Community ID/);
    assert.throws(
      () => decodeVerdictEvent(bad({ lastUs: 1 })),
      (e: Error) => e instanceof VerdictEventError && /lastUs = 1 is before firstUs/.test(e.message),
    );
  });

  it('accepts and refuses exactly as the schema does (the check by hand is only a faster way to accept)', () => {
    const s = syntheticSession('conversation', { label: 'benign', score: 0.9, authAttempts: 2, connState: 'SF' });
    const base = JSON.parse(encodeVerdictEvent(s).toString()) as Record<string, unknown>;
    const variants: Array<Record<string, unknown>> = [
      {},
      { extra: 'dropped' },
      { label: undefined, score: undefined, authAttempts: undefined, connState: undefined },
      { packets: 2 ** 60 },
      { score: -3.5 },
      { sport: -1 },
      { srcFlags: 256 },
      { proto: 'icmp' },
      { src: '' },
      { dst: 'x'.repeat(46) },
      { label: 'l'.repeat(65) },
      { connState: 'LONGSTATE' },
      { authAttempts: 1001 },
      { credentials: ['a1b2', '0f0f'] },
      { credentials: [] },
      { credentials: ['A1B2'] },
      { credentials: 'a1b2' },
      { credentials: ['a1b2', 'a1b2', 'a1b2', 'a1b2', 'a1b2', 'a1b2', 'a1b2'] },
      { bytes: 1.5 },
      { agent: 7 },
    ];
    for (const v of variants) {
      const body = Buffer.from(JSON.stringify({ ...base, ...v }));
      const zodAccepts = verdictEventSchema.safeParse(JSON.parse(body.toString())).success;
      let decoded: unknown;
      try {
        decoded = decodeVerdictEvent(body);
      } catch (err) {
        assert.ok(err instanceof VerdictEventError);
        assert.equal(zodAccepts, false, `refused what the schema accepts: ${JSON.stringify(v)}`);
        continue;
      }
      assert.equal(zodAccepts, true, `accepted what the schema refuses: ${JSON.stringify(v)}`);
      assert.equal((decoded as Record<string, unknown>).extra, undefined, 'unknown keys are dropped');
    }
  });
});
