// Properties of the sessionizer (fast-check; runs: lib/src/testing/fuzz.ts), over random conversations among a
// few endpoints (so that flows meet again and both directions occur), with garbage packets and packets timed
// outside the capture-time window mixed in:
// - packets are conserved: read = decoded + skipped by reason, and the sessions hold every decoded packet and byte;
// - both directions of a 5-tuple are one session, and there is one session per unordered 5-tuple;
// - keys are canonical (parseSessionKey accepts them; the key of either direction is the same text), the session's
//   src is the sender of its first packet, and first/last are the earliest and latest time of its packets.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { buildPacket } from '../packet/build.ts';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, SKIP_REASONS } from '../packet/decode.ts';
import { captureTimeWindow } from '../pcap/capture-time.ts';
import { CapturedPacket } from '../pcap/packet-record.ts';
import { fuzzParameters } from '../testing/fuzz.ts';
import { parseSessionKey, sessionKeyOf } from './key.ts';
import { Sessionizer } from './sessionizer.ts';

const ADDRESSES = ['10.0.0.1', '10.0.0.2', '192.168.1.9', '2001:db8::1', '2001:db8::a'];
const PORTS = [53, 80, 443, 1024, 50000];
const window = captureTimeWindow(Date.UTC(2026, 0, 1));
const T0 = 1_700_000_000;

const conversationArb = fc.record({
  proto: fc.constantFrom('tcp' as const, 'udp' as const),
  a: fc.nat(ADDRESSES.length - 1),
  b: fc.nat(ADDRESSES.length - 1),
  pa: fc.constantFrom(...PORTS),
  pb: fc.constantFrom(...PORTS),
});

const eventArb = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('packet' as const),
      conversation: fc.nat(7),
      reverse: fc.boolean(),
      dt: fc.nat(5_000_000),
      payload: fc.nat(100),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('garbage' as const),
      // IP version 0: never a packet by chance, whatever follows.
      bytes: fc.uint8Array({ maxLength: 60 }).map((b) => Uint8Array.from([b[0]! & 0x0f, ...b.subarray(1)])),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('bad-time' as const),
      conversation: fc.nat(7),
      sec: fc.constantFrom(0, 1, 4.6e18, 0xffffffff),
    }),
  },
);

describe('sessionizer: properties', () => {
  it('conserves packets, joins both directions, and names sessions by canonical keys', () => {
    fc.assert(
      fc.property(
        fc.array(conversationArb, { minLength: 1, maxLength: 8 }),
        fc.array(eventArb, { maxLength: 60 }),
        (conversations, events) => {
          // IPv4 and IPv6 do not mix in one packet: the pool of the first endpoint decides the family.
          const convs = conversations.map((c) => {
            const v6 = ADDRESSES[c.a]!.includes(':');
            const same = ADDRESSES.filter((x) => x.includes(':') === v6);
            return { ...c, src: ADDRESSES[c.a]!, dst: same[c.b % same.length]! };
          });
          const s = new Sessionizer({ captureTimes: window });
          const expected = new Map<
            string,
            { packets: number; bytes: number; firstSender: string; min: number; max: number }
          >();
          let decoded = 0;
          let badTime = 0;
          let tUs = T0 * 1_000_000;
          for (const e of events) {
            if (e.kind === 'garbage') {
              s.add(
                new CapturedPacket(LINKTYPE_RAW, 0, T0, 0, e.bytes.length, e.bytes.length, Buffer.from(e.bytes), 0),
              );
              continue;
            }
            const c = convs[e.conversation % convs.length]!;
            const forward = e.kind === 'bad-time' || !e.reverse;
            const [src, sport, dst, dport] = forward ? [c.src, c.pa, c.dst, c.pb] : [c.dst, c.pb, c.src, c.pa];
            const frame = buildPacket({
              proto: c.proto,
              src,
              dst,
              sport,
              dport,
              payload: Buffer.alloc(e.kind === 'packet' ? e.payload : 0),
            });
            if (e.kind === 'bad-time') {
              s.add(new CapturedPacket(LINKTYPE_ETHERNET, 0, e.sec, 0, frame.length, frame.length, frame, 0));
              badTime++;
              continue;
            }
            tUs += e.dt;
            const sec = Math.floor(tUs / 1e6);
            const session = s.add(
              new CapturedPacket(LINKTYPE_ETHERNET, 0, sec, (tUs % 1e6) * 1000, frame.length, frame.length, frame, 0),
            );
            decoded++;
            const key = sessionKeyOf(c.proto, src, sport, dst, dport);
            assert.equal(key, sessionKeyOf(c.proto, dst, dport, src, sport), 'either direction, one key');
            assert.equal(session?.key, key);
            const x = expected.get(key) ?? { packets: 0, bytes: 0, firstSender: `${src}/${sport}`, min: tUs, max: tUs };
            x.packets++;
            x.bytes += frame.length;
            x.min = Math.min(x.min, tUs);
            x.max = Math.max(x.max, tUs);
            expected.set(key, x);
          }
          const c = s.counters;
          assert.equal(c.read, events.length);
          assert.equal(c.decoded, decoded);
          assert.equal(
            c.read,
            c.decoded + SKIP_REASONS.reduce((n, r) => n + c.skipped[r], 0),
            'every packet read is decoded or skipped',
          );
          assert.equal(c.skipped['time-out-of-range'], badTime);
          assert.equal(s.sessions.size, expected.size, 'one session per unordered 5-tuple');
          let packets = 0;
          for (const session of s.sessions.values()) {
            const x = expected.get(session.key);
            assert.ok(x, `unexpected session ${session.key}`);
            const parsed = parseSessionKey(session.key);
            assert.equal(
              session.key,
              sessionKeyOf(parsed.proto, parsed.b.address, parsed.b.port, parsed.a.address, parsed.a.port),
            );
            assert.equal(session.packets, x.packets);
            assert.equal(session.bytes, x.bytes);
            assert.equal(`${session.src}/${session.sport}`, x.firstSender);
            assert.ok(session.packetsFromInitiator >= 1 && session.packetsFromInitiator <= session.packets);
            assert.equal(Math.round(session.first * 1e6), x.min);
            assert.equal(Math.round(session.last * 1e6), x.max);
            packets += session.packets;
          }
          assert.equal(packets, c.decoded, 'the sessions hold every decoded packet');
        },
      ),
      fuzzParameters(1000),
    );
  });
});
