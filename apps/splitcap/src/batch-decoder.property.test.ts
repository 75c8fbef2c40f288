// splitcap's decoder and the offline Sessionizer (`fleetcap sessions`) agree on any capture (fast-check; runs:
// lib/src/testing/fuzz.ts): the same sessions with the same keys, packet and byte counts, first and last times,
// initiator side and skip counts (capture times outside the window included), every packet conserved; and the
// sessions-per-batch limit refuses exactly the captures with more sessions than it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { SKIP_REASONS } from '@fleetcap/lib/packet/decode';
import { captureTimeWindow } from '@fleetcap/lib/pcap/capture-time';
import { readCaptureBuffer } from '@fleetcap/lib/pcap/reader';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { Sessionizer } from '@fleetcap/lib/session/sessionizer';
import { fuzzParameters } from '@fleetcap/lib/testing/fuzz';
import fc from 'fast-check';
import { decodeBatch } from './batch-decoder.ts';
import { SessionLimitError } from './upload-limits.ts';

const ADDRESSES = ['10.0.0.1', '10.0.0.2', '172.16.0.3'];
const window = captureTimeWindow(Date.UTC(2026, 0, 1));

const packetArb = fc.record({
  proto: fc.constantFrom('tcp' as const, 'udp' as const),
  a: fc.nat(2),
  b: fc.nat(2),
  pa: fc.constantFrom(53, 80, 5000),
  pb: fc.constantFrom(53, 80, 5000),
  tcpFlags: fc.nat(255),
  payload: fc.nat(64),
  tsSec: fc.oneof(
    { weight: 20, arbitrary: fc.integer({ min: 1_700_000_000, max: 1_700_000_100 }) },
    fc.constantFrom(0, 5, 0xffffffff),
  ),
  tsUs: fc.nat(999_999),
  garbage: fc.oneof({ weight: 15, arbitrary: fc.constant(false) }, fc.constant(true)),
});

function captureOf(packets: (typeof packetArb extends fc.Arbitrary<infer T> ? T : never)[]): Buffer {
  const w = new PcapWriter({ linktype: 1 });
  for (const p of packets) {
    const data = p.garbage
      ? Buffer.alloc(30, 0xab)
      : buildPacket({
          proto: p.proto,
          src: ADDRESSES[p.a]!,
          dst: ADDRESSES[p.b]!,
          sport: p.pa,
          dport: p.pb,
          tcpFlags: p.tcpFlags,
          payload: Buffer.alloc(p.payload),
        });
    w.write({ tsSec: p.tsSec, tsNsec: p.tsUs * 1000, data });
  }
  return w.toBuffer();
}

describe('splitcap decoder and offline sessionizer: properties', () => {
  it('agree on every session of any capture, and conserve packets', () => {
    fc.assert(
      fc.property(fc.array(packetArb, { maxLength: 50 }), (packets) => {
        const pcap = captureOf(packets);
        const batch = decodeBatch(pcap, 0, 2048, Number.POSITIVE_INFINITY, window);
        const offline = new Sessionizer({ captureTimes: window });
        for (const p of readCaptureBuffer(pcap)) offline.add(p);

        assert.equal(batch.packetsRead, packets.length);
        assert.equal(batch.packetsRead, offline.counters.read);
        assert.deepEqual(batch.skipped, offline.counters.skipped);
        assert.equal(batch.packetsSessionized, offline.counters.decoded);
        assert.equal(
          batch.packetsRead,
          batch.packetsSessionized + SKIP_REASONS.reduce((n, r) => n + batch.skipped[r], 0),
        );
        assert.deepEqual([...batch.sessions.keys()].sort(), [...offline.sessions.keys()].sort());
        let packetsInSessions = 0;
        for (const [key, s] of batch.sessions) {
          const o = offline.sessions.get(key)!;
          assert.equal(s.packets, o.packets);
          assert.equal(s.args.length, 2 * s.packets, 'two append values per packet');
          assert.equal(s.bytes, o.bytes);
          assert.equal(s.firstUs, Number(o.firstNs / 1000n));
          assert.equal(s.lastUs, Number(o.lastNs / 1000n));
          // firstSide is the canonical side (0 = endpoint a of the key) of the session's first packet.
          const [, addressA, portA] = key.split('/');
          assert.equal(s.firstSide, o.src === addressA && String(o.sport) === portA ? 0 : 1);
          packetsInSessions += s.packets;
        }
        assert.equal(packetsInSessions, batch.packetsSessionized);
      }),
      fuzzParameters(500),
    );
  });

  it('the sessions-per-batch limit refuses exactly the captures with more sessions than it', () => {
    fc.assert(
      fc.property(fc.array(packetArb, { maxLength: 30 }), fc.integer({ min: 1, max: 12 }), (packets, limit) => {
        const pcap = captureOf(packets);
        const sessions = decodeBatch(pcap, 0, 2048, Number.POSITIVE_INFINITY, window).sessions.size;
        if (sessions <= limit) assert.equal(decodeBatch(pcap, 0, 2048, limit, window).sessions.size, sessions);
        else assert.throws(() => decodeBatch(pcap, 0, 2048, limit, window), SessionLimitError);
      }),
      fuzzParameters(500),
    );
  });
});
