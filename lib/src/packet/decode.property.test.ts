// Properties of the packet decoder (fast-check; runs: lib/src/testing/fuzz.ts):
// - every TCP/UDP packet the builder makes (IPv4 or IPv6, every link type, VLAN tags) decodes to what was built:
//   protocol, address bytes, ports, flags, payload length and payload bytes;
// - a cut of such a packet (a snapshot length) is skipped with a reason or decodes to the same 5-tuple;
// - any bytes under any link type give a skip reason of the decoder or a decode whose offsets lie inside the data.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { fuzzParameters } from '../testing/fuzz.ts';
import { buildPacket, ipv4Bytes, ipv6Bytes } from './build.ts';
import {
  DecodedPacket,
  decodePacket,
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_LOOP,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
  SKIP_REASONS,
  SUPPORTED_LINKTYPES,
} from './decode.ts';

const ipv4Arb = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const ipv6Arb = fc
  .array(fc.nat(0xffff), { minLength: 8, maxLength: 8 })
  .map((g) => g.map((x) => x.toString(16)).join(':'));
const portArb = fc.nat(65535);

const packetArb = fc
  .record({
    v6: fc.boolean(),
    a: ipv4Arb,
    b: ipv4Arb,
    a6: ipv6Arb,
    b6: ipv6Arb,
    proto: fc.constantFrom('tcp' as const, 'udp' as const),
    sport: portArb,
    dport: portArb,
    tcpFlags: fc.nat(255),
    tcpOptionsLength: fc.constantFrom(0, 4, 12, 40),
    payload: fc.uint8Array({ maxLength: 300 }),
    link: fc.constantFrom(
      LINKTYPE_ETHERNET,
      LINKTYPE_LINUX_SLL,
      LINKTYPE_LINUX_SLL2,
      LINKTYPE_NULL,
      LINKTYPE_LOOP,
      LINKTYPE_RAW,
    ),
    vlanTags: fc.array(fc.constantFrom(0x8100, 0x88a8), { maxLength: 2 }),
    familyLittleEndian: fc.boolean(),
  })
  .map((r) => ({
    ...r,
    src: r.v6 ? r.a6 : r.a,
    dst: r.v6 ? r.b6 : r.b,
    linktype: r.link === LINKTYPE_RAW && r.v6 ? LINKTYPE_IPV6 : r.link === LINKTYPE_RAW ? LINKTYPE_IPV4 : r.link,
  }));

type Spec = typeof packetArb extends fc.Arbitrary<infer T> ? T : never;

function frameOf(p: Spec): Buffer {
  return buildPacket({
    proto: p.proto,
    src: p.src,
    dst: p.dst,
    sport: p.sport,
    dport: p.dport,
    tcpFlags: p.tcpFlags,
    tcpOptionsLength: p.proto === 'tcp' ? p.tcpOptionsLength : 0,
    payload: p.payload,
    linktype: p.linktype,
    vlanTags: p.linktype === LINKTYPE_ETHERNET ? p.vlanTags : [],
    familyLittleEndian: p.familyLittleEndian,
  });
}

const bytesOf = (p: Spec, which: 'src' | 'dst') => (p.v6 ? ipv6Bytes(p[which]) : ipv4Bytes(p[which]));

describe('packet decoder: properties', () => {
  it('every built TCP/UDP packet decodes to what was built', () => {
    const d = new DecodedPacket();
    fc.assert(
      fc.property(packetArb, (p) => {
        const frame = frameOf(p);
        assert.equal(decodePacket(p.linktype, frame, d, frame.length), null);
        assert.equal(d.proto, p.proto);
        assert.equal(d.ipVersion, p.v6 ? 6 : 4);
        const addressBytes = p.v6 ? 16 : 4;
        assert.deepEqual(Buffer.from(d.bytes.subarray(d.srcAt, d.srcAt + addressBytes)), bytesOf(p, 'src'));
        assert.deepEqual(Buffer.from(d.bytes.subarray(d.dstAt, d.dstAt + addressBytes)), bytesOf(p, 'dst'));
        assert.equal(d.sport, p.sport);
        assert.equal(d.dport, p.dport);
        assert.equal(d.tcpFlags, p.proto === 'tcp' ? p.tcpFlags : 0);
        assert.equal(d.payloadLength, p.payload.length);
        assert.deepEqual(Buffer.from(frame.subarray(d.payloadAt, d.payloadEnd)), Buffer.from(p.payload));
      }),
      fuzzParameters(1500),
    );
  });

  it('a cut packet is skipped with a reason or keeps its 5-tuple', () => {
    const whole = new DecodedPacket();
    const cut = new DecodedPacket();
    fc.assert(
      fc.property(packetArb, fc.nat(), (p, at) => {
        const frame = frameOf(p);
        decodePacket(p.linktype, frame, whole, frame.length);
        const part = frame.subarray(0, at % (frame.length + 1));
        const skip = decodePacket(p.linktype, part, cut, frame.length);
        if (skip !== null) {
          assert.ok((SKIP_REASONS as readonly string[]).includes(skip), skip);
          return;
        }
        assert.deepEqual(
          [cut.proto, cut.src, cut.sport, cut.dst, cut.dport],
          [whole.proto, whole.src, whole.sport, whole.dst, whole.dport],
        );
        assert.equal(cut.payloadLength, whole.payloadLength, 'the header says the length, not the capture');
        assert.ok(cut.payloadEnd <= part.length);
      }),
      fuzzParameters(1500),
    );
  });

  it('any bytes under any link type: a decoder skip reason, or offsets inside the data', () => {
    const d = new DecodedPacket();
    const linktypes = [...SUPPORTED_LINKTYPES];
    const decoderReasons = SKIP_REASONS.filter((r) => r !== 'time-out-of-range') as string[];
    fc.assert(
      fc.property(
        fc.oneof(fc.constantFrom(...linktypes), fc.nat(300)),
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          packetArb.map(frameOf).chain((f) => mutated(f)),
        ),
        fc.nat(70000),
        (linktype, data, origLen) => {
          const skip = decodePacket(linktype, data, d, origLen);
          if (skip !== null) {
            assert.ok(decoderReasons.includes(skip), skip);
            return;
          }
          assert.ok(d.ipOffset >= 0 && d.ipOffset < data.length);
          assert.ok(d.transportAt > d.ipOffset && d.transportAt <= data.length);
          assert.ok(d.payloadAt <= d.payloadEnd && d.payloadEnd <= data.length, `${d.payloadAt}..${d.payloadEnd}`);
          assert.ok(d.capturedEnd <= data.length);
          assert.ok(d.sport >= 0 && d.sport <= 65535 && d.dport >= 0 && d.dport <= 65535);
          assert.equal(typeof d.src, 'string');
          assert.equal(typeof d.dst, 'string');
        },
      ),
      fuzzParameters(2000),
    );
  });
});

/** A frame with a few bytes overwritten, where headers are. */
function mutated(frame: Buffer): fc.Arbitrary<Uint8Array> {
  return fc
    .array(fc.tuple(fc.nat(Math.max(0, Math.min(frame.length - 1, 80))), fc.nat(255)), { maxLength: 4 })
    .map((edits) => {
      const copy = Uint8Array.from(frame);
      for (const [at, value] of edits) copy[at] = value;
      return copy;
    });
}
