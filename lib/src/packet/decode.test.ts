import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIPv6 } from './address.ts';
import { buildPacket, ipv4Packet, ipv6Bytes, ipv6Packet, linkFrame, transportBytes } from './build.ts';
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
  LINKTYPE_RAW_BSD,
  LINKTYPE_RAW_OPENBSD,
  MAX_IPV6_EXTENSION_HEADERS,
  TCP_ACK,
  TCP_SYN,
} from './decode.ts';

function decode(linktype: number, frame: Uint8Array, wireLength?: number) {
  const out = new DecodedPacket();
  const skip = decodePacket(linktype, frame, out, wireLength);
  return { skip, out };
}

function decodeOk(linktype: number, frame: Uint8Array) {
  const { skip, out } = decode(linktype, frame);
  assert.equal(skip, null, `expected a decoded packet, got skip ${skip}`);
  return out;
}

const v4 = { src: '10.0.0.1', dst: '192.168.1.20' };
const v6 = { src: '2001:db8::1', dst: 'fe80::2:0:0:3' };

describe('decodePacket: every supported link type', () => {
  const cases: Array<[string, number, Record<string, unknown>]> = [
    ['Ethernet', LINKTYPE_ETHERNET, {}],
    ['Ethernet 802.1Q', LINKTYPE_ETHERNET, { vlanTags: [0x8100] }],
    ['Ethernet 802.1ad QinQ', LINKTYPE_ETHERNET, { vlanTags: [0x88a8, 0x8100] }],
    ['Ethernet 0x9100 QinQ', LINKTYPE_ETHERNET, { vlanTags: [0x9100, 0x8100] }],
    ['Linux SLL', LINKTYPE_LINUX_SLL, {}],
    ['Linux SLL2', LINKTYPE_LINUX_SLL2, {}],
    ['raw IP (101)', LINKTYPE_RAW, {}],
    ['DLT_RAW 12', LINKTYPE_RAW_BSD, {}],
    ['DLT_RAW 14 (OpenBSD)', LINKTYPE_RAW_OPENBSD, {}],
    ['BSD null, little-endian family', LINKTYPE_NULL, { familyLittleEndian: true }],
    ['BSD null, big-endian family', LINKTYPE_NULL, {}],
    ['OpenBSD loop', LINKTYPE_LOOP, {}],
    ['OpenBSD loop, little-endian family', LINKTYPE_LOOP, { familyLittleEndian: true }],
  ];
  for (const [name, linktype, extra] of cases) {
    it(`${name}: IPv4 TCP`, () => {
      const frame = buildPacket({
        ...v4,
        proto: 'tcp',
        sport: 40000,
        dport: 443,
        tcpFlags: TCP_SYN,
        linktype,
        ...extra,
      });
      const out = decodeOk(linktype, frame);
      assert.equal(out.proto, 'tcp');
      assert.equal(out.ipVersion, 4);
      assert.equal(out.src, '10.0.0.1');
      assert.equal(out.dst, '192.168.1.20');
      assert.equal(out.sport, 40000);
      assert.equal(out.dport, 443);
      assert.equal(out.tcpFlags, TCP_SYN);
      assert.equal(out.ipTtl, 64);
      assert.equal(out.payloadLength, 0);
    });
    it(`${name}: IPv6 UDP`, () => {
      const payload = Buffer.from('hello');
      const frame = buildPacket({ ...v6, proto: 'udp', sport: 53, dport: 5353, payload, linktype, ...extra });
      const out = decodeOk(linktype, frame);
      assert.equal(out.proto, 'udp');
      assert.equal(out.ipVersion, 6);
      assert.equal(out.src, '2001:db8::1');
      assert.equal(out.dst, 'fe80::2:0:0:3');
      assert.equal(out.sport, 53);
      assert.equal(out.dport, 5353);
      assert.equal(out.payloadLength, 5);
    });
  }

  it('LINKTYPE_IPV4 (228) and LINKTYPE_IPV6 (229)', () => {
    const ip4 = ipv4Packet({ ...v4, protocol: 17 }, transportBytes({ proto: 'udp', sport: 1, dport: 2 }));
    assert.equal(decodeOk(LINKTYPE_IPV4, ip4).dport, 2);
    const ip6 = ipv6Packet({ ...v6, nextHeader: 6 }, transportBytes({ proto: 'tcp', sport: 3, dport: 4 }));
    assert.equal(decodeOk(LINKTYPE_IPV6, ip6).dport, 4);
    // A packet of the other IP version on a single-version link type is a lie of the writer.
    assert.equal(decode(LINKTYPE_IPV4, ip6).skip, 'malformed');
    assert.equal(decode(LINKTYPE_IPV6, ip4).skip, 'malformed');
  });

  it('BSD null: AF_INET6 as FreeBSD (28) and Darwin (30) number it', () => {
    for (const addressFamily of [24, 28, 30]) {
      for (const familyLittleEndian of [true, false]) {
        const frame = buildPacket({
          ...v6,
          proto: 'tcp',
          sport: 1,
          dport: 2,
          linktype: LINKTYPE_NULL,
          addressFamily,
          familyLittleEndian,
        });
        assert.equal(decodeOk(LINKTYPE_NULL, frame).src, '2001:db8::1');
      }
    }
    const other = buildPacket({ ...v4, proto: 'tcp', sport: 1, dport: 2, linktype: LINKTYPE_NULL, addressFamily: 7 });
    assert.equal(decode(LINKTYPE_NULL, other).skip, 'not-ip');
  });

  it('Ethernet 802.3 with LLC/SNAP carrying IPv4', () => {
    const ip = ipv4Packet({ ...v4, protocol: 6 }, transportBytes({ proto: 'tcp', sport: 5, dport: 6 }));
    const header = Buffer.alloc(22);
    header.writeUInt16BE(8 + ip.length, 12);
    header.set([0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00], 14);
    assert.equal(decodeOk(LINKTYPE_ETHERNET, Buffer.concat([header, ip])).dport, 6);
  });

  it('ignores Ethernet padding after the IP datagram', () => {
    const frame = Buffer.concat([buildPacket({ ...v4, proto: 'udp', sport: 1, dport: 2 }), Buffer.alloc(18, 0xee)]);
    assert.equal(decodeOk(LINKTYPE_ETHERNET, frame).payloadLength, 0);
  });

  it('reports TCP payload length from the IP total length, options included', () => {
    const transport = transportBytes({
      proto: 'tcp',
      sport: 1,
      dport: 2,
      tcpOptionsLength: 12,
      payload: Buffer.alloc(100),
    });
    const frame = linkFrame(
      { linktype: LINKTYPE_ETHERNET },
      ipv4Packet({ ...v4, protocol: 6, optionsLength: 8 }, transport),
    );
    assert.equal(decodeOk(LINKTYPE_ETHERNET, frame).payloadLength, 100);
  });
});

describe('decodePacket: what is not sessionized is a counted skip', () => {
  it('unsupported link type', () => {
    assert.equal(decode(127, Buffer.alloc(64)).skip, 'unsupported-linktype');
  });

  it('not IP: ARP, an unknown ethertype, SLL netlink', () => {
    const arp = Buffer.alloc(42);
    arp.writeUInt16BE(0x0806, 12);
    assert.equal(decode(LINKTYPE_ETHERNET, arp).skip, 'not-ip');
    const netlink = linkFrame({ linktype: LINKTYPE_LINUX_SLL }, ipv4Packet({ ...v4, protocol: 6 }, Buffer.alloc(20)));
    netlink.writeUInt16BE(824, 2);
    assert.equal(decode(LINKTYPE_LINUX_SLL, netlink).skip, 'not-ip');
  });

  it('other transport (ICMP, GRE) with its protocol number', () => {
    const icmp = linkFrame({ linktype: LINKTYPE_ETHERNET }, ipv4Packet({ ...v4, protocol: 1 }, Buffer.alloc(8)));
    const { skip, out } = decode(LINKTYPE_ETHERNET, icmp);
    assert.equal(skip, 'other-l4');
    assert.equal(out.ipProtocol, 1);
    const icmp6 = linkFrame({ linktype: LINKTYPE_ETHERNET }, ipv6Packet({ ...v6, nextHeader: 58 }, Buffer.alloc(8)));
    assert.equal(decode(LINKTYPE_ETHERNET, icmp6).skip, 'other-l4');
    const none = linkFrame({ linktype: LINKTYPE_ETHERNET }, ipv6Packet({ ...v6, nextHeader: 59 }, Buffer.alloc(0)));
    assert.equal(decode(LINKTYPE_ETHERNET, none).skip, 'other-l4');
  });

  it('IPv4 fragments: the first is sessionized, the others are skipped as fragment', () => {
    const transport = transportBytes({ proto: 'udp', sport: 1, dport: 2, payload: Buffer.alloc(16) });
    const first = ipv4Packet({ ...v4, protocol: 17, moreFragments: true }, transport);
    assert.equal(decodeOk(LINKTYPE_RAW, first).dport, 2);
    const later = ipv4Packet({ ...v4, protocol: 17, fragmentOffset: 3 }, Buffer.alloc(16));
    assert.equal(decode(LINKTYPE_RAW, later).skip, 'fragment');
  });

  it('IPv6 fragments: offset 0 is sessionized, the others are skipped as fragment', () => {
    const transport = transportBytes({ proto: 'tcp', sport: 1, dport: 2 });
    const first = ipv6Packet({ ...v6, nextHeader: 6, extensions: [{ type: 44, moreFragments: true }] }, transport);
    assert.equal(decodeOk(LINKTYPE_RAW, first).dport, 2);
    const later = ipv6Packet({ ...v6, nextHeader: 6, extensions: [{ type: 44, fragmentOffset: 5 }] }, Buffer.alloc(8));
    assert.equal(decode(LINKTYPE_RAW, later).skip, 'fragment');
  });
});

describe('decodePacket: IPv6 extension headers', () => {
  it('walks hop-by-hop, routing, destination options and AH to TCP', () => {
    const extensions = [{ type: 0 }, { type: 43, length: 8 }, { type: 60, length: 16 }, { type: 51, length: 24 }];
    const transport = transportBytes({ proto: 'tcp', sport: 7, dport: 8, payload: Buffer.alloc(10) });
    const out = decodeOk(LINKTYPE_RAW, ipv6Packet({ ...v6, nextHeader: 6, extensions }, transport));
    assert.equal(out.dport, 8);
    assert.equal(out.payloadLength, 10);
  });

  it('uses the final destination of a routing header with segments left', () => {
    const routing = Buffer.alloc(40);
    routing[0] = 17;
    routing[1] = 4; // (4 + 1) * 8 = 40 bytes: 2 addresses
    routing[2] = 0; // type 0
    routing[3] = 2; // segments left
    ipv6Bytes('2001:db8::aa').copy(routing, 8);
    ipv6Bytes('2001:db8::ff').copy(routing, 24);
    const transport = transportBytes({ proto: 'udp', sport: 1, dport: 2 });
    const packet = ipv6Packet({ ...v6, nextHeader: 43 }, Buffer.concat([routing, transport]));
    assert.equal(decodeOk(LINKTYPE_RAW, packet).dst, '2001:db8::ff');
    routing[3] = 0; // no segments left: the destination field is final
    const arrived = ipv6Packet({ ...v6, nextHeader: 43 }, Buffer.concat([routing, transport]));
    assert.equal(decodeOk(LINKTYPE_RAW, arrived).dst, v6.dst);
  });

  it('a chain longer than the limit is malformed, not a long loop', () => {
    const extensions = Array.from({ length: MAX_IPV6_EXTENSION_HEADERS + 1 }, () => ({ type: 60 }));
    const packet = ipv6Packet(
      { ...v6, nextHeader: 6, extensions },
      transportBytes({ proto: 'tcp', sport: 1, dport: 2 }),
    );
    assert.equal(decode(LINKTYPE_RAW, packet).skip, 'malformed');
  });

  it('an extension header longer than the payload length is malformed', () => {
    const packet = ipv6Packet(
      { ...v6, nextHeader: 6, extensions: [{ type: 60, length: 64 }], payloadLength: 16 },
      transportBytes({ proto: 'tcp', sport: 1, dport: 2 }),
    );
    assert.equal(decode(LINKTYPE_RAW, packet).skip, 'malformed');
  });

  it('an extension header cut by the snapshot is truncated', () => {
    const packet = ipv6Packet({ ...v6, nextHeader: 6, extensions: [{ type: 0 }] }, Buffer.alloc(20));
    assert.equal(decode(LINKTYPE_RAW, packet.subarray(0, 41), packet.length).skip, 'truncated');
  });
});

describe('decodePacket: malformed and truncated headers', () => {
  const tcp4 = () => buildPacket({ ...v4, proto: 'tcp', sport: 1, dport: 2, linktype: LINKTYPE_RAW });

  it('truncated link headers', () => {
    assert.equal(decode(LINKTYPE_ETHERNET, Buffer.alloc(13)).skip, 'truncated');
    assert.equal(decode(LINKTYPE_LINUX_SLL, Buffer.alloc(15)).skip, 'truncated');
    assert.equal(decode(LINKTYPE_LINUX_SLL2, Buffer.alloc(19)).skip, 'truncated');
    assert.equal(decode(LINKTYPE_NULL, Buffer.alloc(3)).skip, 'truncated');
    assert.equal(decode(LINKTYPE_RAW, Buffer.alloc(0)).skip, 'truncated');
    const tagged = buildPacket({ ...v4, proto: 'tcp', sport: 1, dport: 2, vlanTags: [0x8100] });
    assert.equal(decode(LINKTYPE_ETHERNET, tagged.subarray(0, 16)).skip, 'truncated');
  });

  it('a VLAN tag stack deeper than any real frame is malformed', () => {
    const frame = buildPacket({ ...v4, proto: 'tcp', sport: 1, dport: 2, vlanTags: new Array(9).fill(0x8100) });
    assert.equal(decode(LINKTYPE_ETHERNET, frame).skip, 'malformed');
  });

  it('IPv4: short header, IHL below 5, IHL past the capture, total length below the header', () => {
    assert.equal(decode(LINKTYPE_RAW, tcp4().subarray(0, 19)).skip, 'truncated');
    const lowIhl = tcp4();
    lowIhl[0] = 0x44;
    assert.equal(decode(LINKTYPE_RAW, lowIhl).skip, 'malformed');
    const bigIhl = tcp4().subarray(0, 30);
    bigIhl[0] = 0x4f;
    bigIhl.writeUInt16BE(100, 2);
    assert.equal(decode(LINKTYPE_RAW, bigIhl, 100).skip, 'truncated');
    const shortTotal = tcp4();
    shortTotal.writeUInt16BE(12, 2);
    assert.equal(decode(LINKTYPE_RAW, shortTotal).skip, 'malformed');
    const wrongVersion = tcp4();
    wrongVersion[0] = 0x45;
    assert.equal(
      decode(LINKTYPE_IPV4, Buffer.concat([Buffer.from([0x55]), wrongVersion.subarray(1)])).skip,
      'malformed',
    );
  });

  it('IPv4 total length 0 (TCP segmentation offload) takes the length from the frame', () => {
    const packet = ipv4Packet(
      { ...v4, protocol: 6, totalLength: 0 },
      transportBytes({ proto: 'tcp', sport: 1, dport: 2, payload: Buffer.alloc(30) }),
    );
    assert.equal(decodeOk(LINKTYPE_RAW, packet).payloadLength, 30);
  });

  it('IPv4 total length larger than the frame: a snapshot cut is decoded from the wire length', () => {
    const packet = ipv4Packet(
      { ...v4, protocol: 6 },
      transportBytes({ proto: 'tcp', sport: 1, dport: 2, payload: Buffer.alloc(1000) }),
    );
    const { skip, out } = decode(LINKTYPE_RAW, packet.subarray(0, 54), packet.length);
    assert.equal(skip, null);
    assert.equal(out.payloadLength, 1000);
  });

  it('TCP: header cut, data offset below 5, data offset past the IP payload', () => {
    assert.equal(decode(LINKTYPE_RAW, tcp4().subarray(0, 35), 40).skip, 'truncated');
    const lowOffset = tcp4();
    lowOffset[32] = 0x40;
    assert.equal(decode(LINKTYPE_RAW, lowOffset).skip, 'malformed');
    const bigOffset = tcp4();
    bigOffset[32] = 0xf0;
    assert.equal(decode(LINKTYPE_RAW, bigOffset).skip, 'malformed');
  });

  it('UDP: header cut, length below 8', () => {
    const udp = buildPacket({ ...v4, proto: 'udp', sport: 1, dport: 2, linktype: LINKTYPE_RAW });
    assert.equal(decode(LINKTYPE_RAW, udp.subarray(0, 27), 28).skip, 'truncated');
    udp.writeUInt16BE(7, 24);
    assert.equal(decode(LINKTYPE_RAW, udp).skip, 'malformed');
  });

  it('IPv6: short fixed header, wrong version', () => {
    const packet = buildPacket({ ...v6, proto: 'udp', sport: 1, dport: 2, linktype: LINKTYPE_RAW });
    assert.equal(decode(LINKTYPE_IPV6, packet.subarray(0, 39)).skip, 'truncated');
    packet[0] = 0x70;
    assert.equal(decode(LINKTYPE_IPV6, packet).skip, 'malformed');
  });

  it('never throws on random bytes of any supported link type', () => {
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const out = new DecodedPacket();
    for (const linktype of [0, 1, 12, 14, 101, 108, 113, 228, 229, 276]) {
      for (let i = 0; i < 2000; i++) {
        const frame = Buffer.alloc(random() % 120);
        for (let j = 0; j < frame.length; j++) frame[j] = random() & 0xff;
        // Bias towards IP so that the deeper layers get exercised.
        if (frame.length > 20 && i % 2 === 0) frame[linktype === 1 ? 14 : 0] = i % 4 === 0 ? 0x45 : 0x60;
        decodePacket(linktype, frame, out, random() % 200);
      }
    }
  });
});

describe('formatIPv6 (RFC 5952)', () => {
  const cases: Array<[string, string]> = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:0db8:0000:0001:0000:0000:0000:0001', '2001:db8:0:1::1'],
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],
    ['2001:0db8:0001:0001:0001:0001:0000:0001', '2001:db8:1:1:1:1:0:1'],
    ['0000:0000:0000:0000:0000:0000:0000:0000', '::'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
    ['fe80:0000:0000:0000:0000:0000:0000:0000', 'fe80::'],
    ['0000:0000:0000:0000:0000:ffff:c000:0201', '::ffff:c000:201'],
  ];
  for (const [full, canonical] of cases) {
    it(`${full} → ${canonical}`, () => {
      const bytes = Buffer.from(full.replaceAll(':', ''), 'hex');
      assert.equal(formatIPv6(bytes, 0), canonical);
      assert.equal(new URL(`http://[${full}]/`).hostname, `[${canonical}]`);
    });
  }
});

describe('decoding in place', () => {
  it('a frame inside a larger buffer decodes as the frame alone, random frames included', () => {
    let seed = 777;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const frames: Array<[number, Buffer]> = [
      [1, buildPacket({ ...v4, proto: 'tcp', sport: 1, dport: 2, vlanTags: [0x8100] })],
      [113, buildPacket({ ...v6, proto: 'udp', sport: 3, dport: 4, linktype: 113 })],
      [0, buildPacket({ ...v6, proto: 'tcp', sport: 5, dport: 6, linktype: 0, familyLittleEndian: true })],
    ];
    for (let i = 0; i < 3000; i++) {
      const frame = Buffer.alloc(random() % 100);
      for (let j = 0; j < frame.length; j++) frame[j] = random() & 0xff;
      if (frame.length > 20) frame[i % 2 ? 0 : 14] = i % 4 < 2 ? 0x45 : 0x60;
      frames.push([[0, 1, 101, 113, 276][i % 5]!, frame]);
    }
    for (const [linktype, frame] of frames) {
      const before = random() % 50;
      const wide = Buffer.concat([Buffer.alloc(before, 0x45), frame, Buffer.alloc(random() % 50, 0x60)]);
      const wire = frame.length + (random() % 3) * 100;
      const alone = new DecodedPacket();
      const inPlace = new DecodedPacket();
      const skipAlone = decodePacket(linktype, frame, alone, wire);
      const skipInPlace = decodePacket(linktype, wide, inPlace, wire, before, before + frame.length);
      assert.equal(skipInPlace, skipAlone);
      if (skipAlone !== null) continue;
      assert.deepEqual(
        [
          inPlace.proto,
          inPlace.src,
          inPlace.dst,
          inPlace.sport,
          inPlace.dport,
          inPlace.payloadLength,
          inPlace.tcpFlags,
        ],
        [alone.proto, alone.src, alone.dst, alone.sport, alone.dport, alone.payloadLength, alone.tcpFlags],
      );
      assert.equal(inPlace.ipOffset, alone.ipOffset + before);
    }
  });
});

describe('DecodedPacket reuse', () => {
  it('a decoder object reused across packets reports each packet', () => {
    const out = new DecodedPacket();
    assert.equal(
      decodePacket(1, buildPacket({ ...v4, proto: 'tcp', sport: 1, dport: 2, tcpFlags: TCP_ACK }), out),
      null,
    );
    assert.equal(out.proto, 'tcp');
    assert.equal(decodePacket(1, buildPacket({ ...v6, proto: 'udp', sport: 3, dport: 4 }), out), null);
    assert.equal(out.proto, 'udp');
    assert.equal(out.tcpFlags, 0);
    assert.equal(out.src, '2001:db8::1');
  });
});
