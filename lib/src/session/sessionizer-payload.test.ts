// The decoder's TCP sequence number and payload range, and the sessionizer's payload copies (for application
// metadata): additive fields, off unless asked for.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildPacket, ipv4Packet, linkFrame, transportBytes } from '../packet/build.ts';
import { DecodedPacket, decodePacket, LINKTYPE_ETHERNET, TCP_ACK, TCP_SYN } from '../packet/decode.ts';
import { CapturedPacket } from '../pcap/reader.ts';
import { Sessionizer } from './sessionizer.ts';

const client = { src: '10.0.0.1', sport: 40000, dst: '10.0.0.2', dport: 80 };
const server = { src: client.dst, sport: client.dport, dst: client.src, dport: client.sport };

function withSeq(frame: Buffer, seq: number): Buffer {
  // Ethernet (14) + IPv4 (20): the TCP header's sequence number is at 4.
  frame.writeUInt32BE(seq, 14 + 20 + 4);
  return frame;
}

function captured(frame: Buffer, origLen = frame.length) {
  return new CapturedPacket(LINKTYPE_ETHERNET, 0, 1, 0, frame.length, origLen, frame, 0);
}

describe('decodePacket: TCP sequence number and payload range', () => {
  it('reads the sequence number as unsigned and the payload range within the captured bytes', () => {
    const frame = withSeq(buildPacket({ ...client, proto: 'tcp', payload: Buffer.from('hello') }), 0xfffffff0);
    const d = new DecodedPacket();
    assert.equal(decodePacket(LINKTYPE_ETHERNET, frame, d), null);
    assert.equal(d.tcpSeq, 0xfffffff0);
    assert.equal(Buffer.from(frame.subarray(d.payloadAt, d.payloadEnd)).toString(), 'hello');
  });

  it('ends the payload at the IP length (Ethernet padding is not payload) and at a snapshot cut', () => {
    const ip = ipv4Packet(
      { ...client, protocol: 17 },
      transportBytes({ ...client, proto: 'udp', payload: Buffer.from('dns') }),
    );
    const padded = Buffer.concat([linkFrame({ linktype: LINKTYPE_ETHERNET }, ip), Buffer.alloc(20)]);
    const d = new DecodedPacket();
    assert.equal(decodePacket(LINKTYPE_ETHERNET, padded, d), null);
    assert.equal(d.tcpSeq, 0);
    assert.equal(Buffer.from(padded.subarray(d.payloadAt, d.payloadEnd)).toString(), 'dns');
    const frame = buildPacket({ ...client, proto: 'tcp', payload: Buffer.alloc(100, 0x61) });
    const cut = frame.subarray(0, frame.length - 60);
    assert.equal(decodePacket(LINKTYPE_ETHERNET, cut, d, frame.length), null);
    assert.equal(d.payloadLength, 100);
    assert.equal(d.payloadEnd - d.payloadAt, 40);
  });
});

describe('Sessionizer payloadBytesKept', () => {
  it('keeps copies of the payloads and sequence numbers of the kept packets, within a budget per direction', () => {
    const sessionizer = new Sessionizer({ maxPacketsKept: 10, payloadBytesKept: 8 });
    const reused = Buffer.alloc(200);
    const add = (frame: Buffer) => {
      // The reader reuses its buffer: what the sessionizer keeps must not change when the buffer does.
      frame.copy(reused);
      sessionizer.addPacket(LINKTYPE_ETHERNET, reused, 0, frame.length, frame.length, 1, 0);
      reused.fill(0);
    };
    add(withSeq(buildPacket({ ...client, proto: 'tcp', tcpFlags: TCP_SYN }), 99));
    add(withSeq(buildPacket({ ...client, proto: 'tcp', payload: Buffer.from('abcde') }), 100));
    add(withSeq(buildPacket({ ...client, proto: 'tcp', payload: Buffer.from('fghij') }), 105));
    add(withSeq(buildPacket({ ...server, proto: 'tcp', tcpFlags: TCP_ACK, payload: Buffer.from('xyz') }), 7));
    const [session] = [...sessionizer.sessions.values()];
    assert.deepEqual(
      session?.packetList.map((p) => [p.direction, p.tcpSeq, Buffer.from(p.payload ?? []).toString(), p.payloadLength]),
      [
        [0, 99, '', 0],
        [0, 100, 'abcde', 5],
        [0, 105, 'fgh', 5],
        [1, 7, 'xyz', 3],
      ],
    );
  });

  it('keeps no payload by default', () => {
    const sessionizer = new Sessionizer({ maxPacketsKept: 2 });
    sessionizer.add(captured(buildPacket({ ...client, proto: 'udp', payload: Buffer.from('q') })));
    const [session] = [...sessionizer.sessions.values()];
    assert.equal(session?.packetList[0]?.payload, undefined);
    assert.equal(session?.packetList[0]?.tcpSeq, 0);
  });
});
