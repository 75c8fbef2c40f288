// The fields the session record reads (lib/src/session-record): IP length, transport offset, TCP sequence numbers
// and window, and for 'other-l4' skips the addresses, ICMP type/code and SCTP ports.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildPacket, ipv4Packet, ipv6Packet, linkFrame } from './build.ts';
import { DecodedPacket, decodePacket, LINKTYPE_ETHERNET, LINKTYPE_RAW, TCP_ACK, TCP_SYN } from './decode.ts';

describe('decodePacket: session-record fields', () => {
  it('gives TCP sequence, acknowledgement, window, IP length and transport offset', () => {
    const frame = buildPacket({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      proto: 'tcp',
      sport: 1,
      dport: 2,
      tcpFlags: TCP_SYN | TCP_ACK,
      payload: Buffer.from('hello'),
    });
    frame.writeUInt32BE(0xfffffff0, 14 + 20 + 4);
    frame.writeUInt32BE(123456, 14 + 20 + 8);
    frame.writeUInt16BE(0, 14 + 20 + 14);
    const out = new DecodedPacket();
    assert.equal(decodePacket(LINKTYPE_ETHERNET, frame, out), null);
    assert.equal(out.tcpSeq, 0xfffffff0);
    assert.equal(out.tcpAck, 123456);
    assert.equal(out.tcpWindow, 0);
    assert.equal(out.ipLength, 20 + 20 + 5);
    assert.equal(out.transportAt, 14 + 20);
    assert.equal(out.transportLength, 25);
    assert.equal(out.capturedEnd, frame.length);
    assert.equal(out.icmpType, -1);
  });

  it('counts the IPv6 header in the IP length', () => {
    const out = new DecodedPacket();
    const frame = buildPacket({
      src: '2001:db8::1',
      dst: '2001:db8::2',
      proto: 'udp',
      sport: 1,
      dport: 2,
      payload: Buffer.alloc(10),
    });
    assert.equal(decodePacket(LINKTYPE_ETHERNET, frame, out), null);
    assert.equal(out.ipLength, 40 + 8 + 10);
  });

  it('fills addresses and ICMP type/code of ICMP and ICMPv6 skips', () => {
    const out = new DecodedPacket();
    const icmp = ipv4Packet({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 1 }, Buffer.from([3, 1, 0, 0, 0, 0, 0, 0]));
    assert.equal(decodePacket(LINKTYPE_RAW, icmp, out), 'other-l4');
    assert.equal(out.ipProtocol, 1);
    assert.equal(out.src, '10.0.0.1');
    assert.equal(out.dst, '10.0.0.2');
    assert.deepEqual([out.icmpType, out.icmpCode], [3, 1]);
    assert.equal(out.ipLength, 28);
    const icmp6 = ipv6Packet(
      { src: 'fe80::1', dst: 'ff02::1', nextHeader: 58 },
      Buffer.from([128, 0, 0, 0, 0, 0, 0, 0]),
    );
    assert.equal(decodePacket(LINKTYPE_RAW, icmp6, out), 'other-l4');
    assert.equal(out.dst, 'ff02::1');
    assert.deepEqual([out.icmpType, out.icmpCode], [128, 0]);
  });

  it('fills SCTP ports, and no ports or type for other protocols', () => {
    const out = new DecodedPacket();
    const sctp = ipv4Packet(
      { src: '10.0.0.1', dst: '10.0.0.2', protocol: 132 },
      Buffer.from([0x0b, 0x59, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0]),
    );
    assert.equal(decodePacket(LINKTYPE_RAW, sctp, out), 'other-l4');
    assert.deepEqual([out.sport, out.dport], [2905, 7]);
    const gre = ipv4Packet({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 47 }, Buffer.alloc(4));
    assert.equal(decodePacket(LINKTYPE_RAW, gre, out), 'other-l4');
    assert.deepEqual([out.sport, out.dport, out.icmpType, out.icmpCode], [0, 0, -1, -1]);
    assert.equal(out.src, '10.0.0.1');
  });

  it('leaves ICMP type/code unknown when the message is cut before them', () => {
    const out = new DecodedPacket();
    const frame = linkFrame(
      { linktype: LINKTYPE_ETHERNET },
      ipv4Packet({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 1 }, Buffer.from([8])),
    );
    assert.equal(decodePacket(LINKTYPE_ETHERNET, frame, out), 'other-l4');
    assert.equal(out.icmpType, -1);
  });
});
