import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientDirection, reassemble } from './tcp-stream.ts';
import type { AppPacket } from './types.ts';

const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');

function seg(seq: number, data: string, options: { direction?: 0 | 1; flags?: number; wire?: number } = {}): AppPacket {
  const payload = Buffer.from(data, 'latin1');
  return {
    direction: options.direction ?? 0,
    tcpFlags: options.flags ?? 0x18,
    tcpSeq: seq >>> 0,
    payload,
    payloadLength: options.wire ?? payload.length,
  };
}

const SYN = (seq: number): AppPacket => ({
  direction: 0,
  tcpFlags: 0x02,
  tcpSeq: seq,
  payload: new Uint8Array(0),
  payloadLength: 0,
});

describe('reassemble', () => {
  it('orders segments by sequence number from the SYN', () => {
    const s = reassemble([SYN(99), seg(106, 'world'), seg(100, 'hello '), seg(111, '!')], 0);
    assert.equal(text(s.bytes), 'hello world!');
    assert.equal(s.ends, 'end');
  });

  it('keeps the first copy of retransmitted and overlapping bytes, and flags a copy that differs', () => {
    const same = reassemble([SYN(0), seg(1, 'abcdef'), seg(4, 'defghi'), seg(1, 'abc')], 0);
    assert.equal(text(same.bytes), 'abcdefghi');
    assert.equal(same.inconsistentOverlap, false);
    const differs = reassemble([SYN(0), seg(1, 'abcdef'), seg(4, 'XYZghi')], 0);
    assert.equal(text(differs.bytes), 'abcdefghi');
    assert.equal(differs.inconsistentOverlap, true);
  });

  it('ends at the first hole, and says whether it was a missing segment or a cut one', () => {
    const gap = reassemble([SYN(0), seg(1, 'abc'), seg(10, 'later')], 0);
    assert.equal(text(gap.bytes), 'abc');
    assert.equal(gap.ends, 'gap');
    const snapped = reassemble([SYN(0), seg(1, 'ab', { wire: 1400 }), seg(1401, 'next')], 0);
    assert.equal(text(snapped.bytes), 'ab');
    assert.equal(snapped.ends, 'snapped');
  });

  it('starts at the lowest sequence number without a SYN, across the 2^32 wrap', () => {
    const s = reassemble([seg(0xfffffffe + 4, 'cd'), seg(0xfffffffe, 'abcd')], 0);
    assert.equal(text(s.bytes), 'abcdcd');
  });

  it('takes the data of a SYN (TCP Fast Open) one after its sequence number', () => {
    const s = reassemble([seg(50, 'GET ', { flags: 0x02 }), seg(55, '/')], 0);
    assert.equal(text(s.bytes), 'GET /');
  });

  it('takes arrival order when sequence numbers are unknown', () => {
    const packets = [seg(0, 'ab'), seg(0, 'cd')].map(({ tcpSeq: _, ...p }) => p);
    assert.equal(text(reassemble(packets, 0).bytes), 'abcd');
  });

  it('stops at the byte limit', () => {
    const s = reassemble([SYN(0), seg(1, 'x'.repeat(100))], 0, 10);
    assert.equal(s.bytes.length, 10);
    assert.equal(s.ends, 'limit');
  });

  it('finds the client from the handshake, whoever sent the first stored packet', () => {
    const synAck: AppPacket = { direction: 0, tcpFlags: 0x12, tcpSeq: 1, payload: new Uint8Array(0), payloadLength: 0 };
    assert.equal(
      clientDirection({ proto: 'tcp', initiatorPort: 80, responderPort: 4000, packets: [synAck], morePackets: false }),
      1,
    );
  });
});

describe('reassemble into a reused buffer', () => {
  it('gives what a fresh array gives, written into the buffer, for every way a stream ends', () => {
    const into = new Uint8Array(64);
    const cases: AppPacket[][] = [
      [SYN(99), seg(106, 'world'), seg(100, 'hello '), seg(111, '!')],
      [SYN(99), seg(100, 'abc'), seg(110, 'later')],
      [SYN(99), seg(100, 'ab', { wire: 5 }), seg(105, 'cd')],
      [seg(500, 'no syn'), seg(506, ' here')],
      [{ direction: 0, tcpFlags: 0x18, payload: Buffer.from('no seq'), payloadLength: 6 }],
      [SYN(99), seg(100, 'same'), seg(100, 'diff')],
    ];
    for (const packets of cases) {
      const fresh = reassemble(packets, 0, 8);
      const reused = reassemble(packets, 0, 8, into);
      assert.deepEqual({ ...reused, bytes: text(reused.bytes) }, { ...fresh, bytes: text(fresh.bytes) });
      if (reused.bytes.length > 0) assert.equal(reused.bytes.buffer, into.buffer, 'written into the given buffer');
    }
  });

  it('allocates when the given buffer is too short', () => {
    const s = reassemble([SYN(99), seg(100, 'hello')], 0, 64, new Uint8Array(2));
    assert.equal(text(s.bytes), 'hello');
  });
});
