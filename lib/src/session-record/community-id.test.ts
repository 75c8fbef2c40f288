import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { buildPacket, ipv4Packet, ipv6Packet, linkFrame } from '../packet/build.ts';
import { DecodedPacket, decodePacket, LINKTYPE_ETHERNET } from '../packet/decode.ts';
import { addressBytes, communityId, communityIdOfPacket, icmpPorts, sha1Base64 } from './community-id.ts';

// Test vectors of the spec's baseline (corelight/community-id-spec, baseline/baseline_deflt.json and
// baseline_seed1.json): protocol, source, destination, ports (ICMP: type and code), seed 0 and seed 1.
const BASELINE: Array<[number, string, string, number | undefined, number | undefined, string, string]> = [
  [
    58,
    'fe80::200:86ff:fe05:80da',
    'fe80::260:97ff:fe07:69ea',
    135,
    136,
    '1:dGHyGvjMfljg6Bppwm3bg0LO8TY=',
    '1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY=',
  ],
  [
    58,
    'fe80::260:97ff:fe07:69ea',
    'fe80::200:86ff:fe05:80da',
    136,
    135,
    '1:dGHyGvjMfljg6Bppwm3bg0LO8TY=',
    '1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY=',
  ],
  [
    58,
    '3ffe:501:1800:2345::2',
    '3ffe:507:0:1:200:86ff:fe05:80da',
    3,
    0,
    '1:2ObVBgIn28oZvibYZhZMBgh7WdQ=',
    '1:lVEtCZpYu84Xqaa++3lXFyuu2n4=',
  ],
  [
    58,
    '3ffe:501:410:0:2c0:dfff:fe47:33e',
    '3ffe:507:0:1:200:86ff:fe05:80da',
    1,
    4,
    '1:hLZd0XGWojozrvxqE0dWB1iM6R0=',
    '1:W8MHwXpWzpoSTD+cGcaJr4u0ys8=',
  ],
  [
    58,
    '3ffe:507:0:1:200:86ff:fe05:80da',
    '3ffe:501:0:1001::2',
    128,
    129,
    '1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=',
    '1:GfZxjAkDk2MkegpBYHV6tadtFXQ=',
  ],
  [
    58,
    'fe80::200:86ff:fe05:80da',
    'ff02::2',
    133,
    134,
    '1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0=',
    '1:L7Ka0ZMYu+J3bL4ulW2PrqyXNo8=',
  ],
  [1, '192.168.0.89', '192.168.0.1', 8, 0, '1:X0snYXpgwiv9TZtqg64sgzUn6Dk=', '1:03g6IloqVBdcZlPyX8r0hgoE7kA='],
  [1, '192.168.0.1', '192.168.0.89', 0, 8, '1:X0snYXpgwiv9TZtqg64sgzUn6Dk=', '1:03g6IloqVBdcZlPyX8r0hgoE7kA='],
  [1, '10.0.0.1', '10.0.0.2', 11, 0, '1:YHxtAirCG//0OzkcVAukqKQN9xM=', '1:XjUibYHaafLQ3pxQeiMI8g25q20='],
  [
    6,
    '2607:f8b0:400c:c03::1a',
    '2001:470:e5bf:dead:4957:2174:e82c:4887',
    25,
    63943,
    '1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=',
    '1:eJYTW6AOzFLlSUoESovMjnu7rMw=',
  ],
  [132, '192.168.170.8', '192.168.170.56', 7, 7, '1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=', '1:5w3ZRjeKBzqT3zsaEECDGjUbYeg='],
  [
    6,
    '128.232.110.120',
    '66.35.250.204',
    34855,
    80,
    '1:LQU9qZlK+B5F3KDmev6m5PMibrg=',
    '1:3V71V58M3Ksw/yuFALMcW0LAHvc=',
  ],
  [17, '8.8.8.8', '192.168.1.52', 53, 54585, '1:d/FP5EW3wiY1vCndhwleRRKHowQ=', '1:Q9We8WO3piVF8yEQBNJF4uiSVrI='],
  [
    46,
    '10.1.12.2',
    '10.1.12.1',
    undefined,
    undefined,
    '1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=',
    '1:rYir8gphR31noO9iDRQmF/BteEI=',
  ],
];

describe('communityId: the spec baseline', () => {
  for (const [protocol, src, dst, sport, dport, seed0, seed1] of BASELINE) {
    it(`${protocol} ${src} ${sport ?? ''} -> ${dst} ${dport ?? ''}`, () => {
      assert.equal(communityId({ protocol, src, dst, sport, dport }), seed0);
      assert.equal(communityId({ protocol, src, dst, sport, dport }, 1), seed1);
    });
  }
});

describe('communityId: ordering and ICMP', () => {
  it('is the same for both directions of a TCP flow, and for equal addresses by port', () => {
    const a = communityId({ protocol: 6, src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 443 });
    assert.equal(communityId({ protocol: 6, src: '10.0.0.2', dst: '10.0.0.1', sport: 443, dport: 40000 }), a);
    const loop = communityId({ protocol: 17, src: '127.0.0.1', dst: '127.0.0.1', sport: 5000, dport: 53 });
    assert.equal(communityId({ protocol: 17, src: '127.0.0.1', dst: '127.0.0.1', sport: 53, dport: 5000 }), loop);
  });

  it('maps ICMP requests to their replies and leaves one-way messages in send order', () => {
    assert.deepEqual(icmpPorts(1, 8, 0), { sport: 8, dport: 0, oneWay: false });
    assert.deepEqual(icmpPorts(1, 3, 1), { sport: 3, dport: 1, oneWay: true });
    assert.deepEqual(icmpPorts(58, 135, 0), { sport: 135, dport: 136, oneWay: false });
    assert.deepEqual(icmpPorts(58, 1, 4), { sport: 1, dport: 4, oneWay: true });
    // An unreachable sent each way is two flows: one-way messages are not reordered.
    const there = communityId({ protocol: 1, src: '10.0.0.2', dst: '10.0.0.1', sport: 3, dport: 3 });
    const back = communityId({ protocol: 1, src: '10.0.0.1', dst: '10.0.0.2', sport: 3, dport: 3 });
    assert.notEqual(there, back);
  });

  it('rejects a seed outside 16 bits and mixed address families', () => {
    assert.throws(() => communityId({ protocol: 6, src: '1.2.3.4', dst: '5.6.7.8', sport: 1, dport: 2 }, 70000));
    assert.throws(() => communityId({ protocol: 6, src: '1.2.3.4', dst: '::1', sport: 1, dport: 2 }));
  });
});

describe('addressBytes', () => {
  it('reads IPv4, compressed IPv6 and IPv6 with a dotted tail', () => {
    assert.deepEqual([...addressBytes('192.168.0.1')], [192, 168, 0, 1]);
    assert.deepEqual([...addressBytes('::1')], [...new Array(15).fill(0), 1]);
    assert.deepEqual([...addressBytes('::ffff:1.2.3.4')], [...new Array(10).fill(0), 255, 255, 1, 2, 3, 4]);
    assert.deepEqual([...addressBytes('2001:db8::')], [0x20, 0x01, 0x0d, 0xb8, ...new Array(12).fill(0)]);
  });

  it('rejects what is not an address', () => {
    for (const bad of ['1.2.3', '256.1.1.1', '1::2::3', '12345::', 'x::1', '1:2:3:4:5:6:7']) {
      assert.throws(() => addressBytes(bad), /not an IP address/, bad);
    }
  });
});

function decoded(frame: Buffer): DecodedPacket {
  const out = new DecodedPacket();
  const skip = decodePacket(LINKTYPE_ETHERNET, frame, out);
  assert.ok(skip === null || skip === 'other-l4', `skip ${skip}`);
  return out;
}

describe('communityIdOfPacket', () => {
  it('equals the text form for TCP, UDP over IPv4 and IPv6', () => {
    const tcp = decoded(
      buildPacket({ src: '128.232.110.120', dst: '66.35.250.204', proto: 'tcp', sport: 34855, dport: 80 }),
    );
    assert.equal(communityIdOfPacket(tcp), '1:LQU9qZlK+B5F3KDmev6m5PMibrg=');
    const v6 = decoded(
      buildPacket({
        src: '2607:f8b0:400c:c03::1a',
        dst: '2001:470:e5bf:dead:4957:2174:e82c:4887',
        proto: 'tcp',
        sport: 25,
        dport: 63943,
      }),
    );
    assert.equal(communityIdOfPacket(v6), '1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=');
  });

  it('reads ICMP type and code, SCTP ports and other protocols from other-l4 skips', () => {
    const echo = Buffer.from([8, 0, 0, 0, 0, 1, 0, 1]);
    const icmp = decoded(
      linkFrame(
        { linktype: LINKTYPE_ETHERNET },
        ipv4Packet({ src: '192.168.0.89', dst: '192.168.0.1', protocol: 1 }, echo),
      ),
    );
    assert.equal(communityIdOfPacket(icmp), '1:X0snYXpgwiv9TZtqg64sgzUn6Dk=');
    const ns = Buffer.from([135, 0, 0, 0, 0, 0, 0, 0]);
    const icmp6 = decoded(
      linkFrame(
        { linktype: LINKTYPE_ETHERNET },
        ipv6Packet({ src: 'fe80::200:86ff:fe05:80da', dst: 'fe80::260:97ff:fe07:69ea', nextHeader: 58 }, ns),
      ),
    );
    assert.equal(communityIdOfPacket(icmp6), '1:dGHyGvjMfljg6Bppwm3bg0LO8TY=');
    const sctpHeader = Buffer.from([0, 7, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0]);
    const sctp = decoded(
      linkFrame(
        { linktype: LINKTYPE_ETHERNET },
        ipv4Packet({ src: '192.168.170.8', dst: '192.168.170.56', protocol: 132 }, sctpHeader),
      ),
    );
    assert.equal(communityIdOfPacket(sctp), '1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=');
    const rsvp = decoded(
      linkFrame(
        { linktype: LINKTYPE_ETHERNET },
        ipv4Packet({ src: '10.1.12.1', dst: '10.1.12.2', protocol: 46 }, Buffer.alloc(8)),
      ),
    );
    assert.equal(communityIdOfPacket(rsvp), '1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=');
  });

  it('is null for an ICMP message cut before its code', () => {
    const frame = linkFrame(
      { linktype: LINKTYPE_ETHERNET },
      ipv4Packet({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 1 }, Buffer.from([8])),
    );
    assert.equal(communityIdOfPacket(decoded(frame)), null);
  });
});

describe('sha1Base64', () => {
  it("equals node:crypto's SHA-1 for every input length up to one block and beyond", () => {
    for (let length = 0; length <= 70; length++) {
      for (let round = 0; round < 5; round++) {
        const data = randomBytes(length);
        assert.equal(sha1Base64(data), createHash('sha1').update(data).digest('base64'), `length ${length}`);
      }
    }
    assert.equal(sha1Base64(new TextEncoder().encode('abc')), 'qZk+NkcGgWq6PiVxeFDCbJzQ2J0=');
  });
});
