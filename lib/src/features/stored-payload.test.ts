import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildPacket } from '../packet/build.ts';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, TCP_ACK, TCP_PSH } from '../packet/decode.ts';
import { CONTENT_BYTES_PER_PACKET } from './content.ts';
import { storedPayload } from './stored-payload.ts';
import { wireSession } from './wire.ts';

const spec = {
  src: '10.0.0.1',
  dst: '10.0.0.2',
  sport: 40000,
  dport: 80,
  proto: 'tcp' as const,
  tcpFlags: TCP_PSH | TCP_ACK,
};

describe('storedPayload', () => {
  it('gives the transport payload of an Ethernet and of a raw IP frame', () => {
    const payload = Buffer.from('GET / HTTP/1.1\r\n\r\n');
    for (const linktype of [LINKTYPE_ETHERNET, LINKTYPE_RAW]) {
      const frame = buildPacket({ ...spec, linktype, payload });
      assert.deepEqual(Buffer.from(storedPayload(linktype, frame, frame.length)!), payload);
    }
  });

  it('keeps only the first CONTENT_BYTES_PER_PACKET bytes, and what a cut frame holds', () => {
    const payload = Buffer.alloc(1400, 0x41);
    const frame = buildPacket({ ...spec, payload });
    assert.equal(storedPayload(LINKTYPE_ETHERNET, frame, frame.length)!.length, CONTENT_BYTES_PER_PACKET);
    const cut = frame.subarray(0, 54 + 100);
    assert.equal(storedPayload(LINKTYPE_ETHERNET, cut, frame.length)!.length, 100);
  });

  it('gives nothing for an empty frame (a store without frames) or one that is not IP', () => {
    assert.equal(storedPayload(LINKTYPE_ETHERNET, new Uint8Array(0), 60), undefined);
    assert.equal(storedPayload(LINKTYPE_ETHERNET, new Uint8Array(60), 60), undefined);
    const udp = buildPacket({ ...spec, proto: 'udp', tcpFlags: 0, payload: Buffer.from('x') });
    assert.equal(storedPayload(-1, udp, udp.length), undefined, 'no link type: a record without a frame');
    assert.equal(storedPayload(LINKTYPE_ETHERNET, udp, udp.length, 'tcp'), undefined, 'not the session transport');
    assert.equal(storedPayload(LINKTYPE_ETHERNET, udp, udp.length, 'udp')!.length, 1);
    const frame = buildPacket({ ...spec, tcpFlags: TCP_ACK });
    assert.equal(storedPayload(LINKTYPE_ETHERNET, frame, frame.length)!.length, 0);
  });
});

describe('wireSession', () => {
  it('sends the first CONTENT_BYTES_PER_PACKET payload bytes as base64 and no payload field without bytes', () => {
    const long = new Uint8Array(1500).fill(0x42);
    const s = wireSession({
      proto: 'tcp',
      clientPort: 1,
      serverPort: 2,
      packets: [
        { direction: 0, tsUs: 1, wireLength: 1554, payloadLength: 1500, tcpFlags: 0x18, payload: long },
        { direction: 1, tsUs: 2, wireLength: 54, payloadLength: 0, tcpFlags: 0x10 },
      ],
    });
    assert.equal(Buffer.from(s.packets[0]!.payload!, 'base64').length, CONTENT_BYTES_PER_PACKET);
    assert.equal('payload' in s.packets[1]!, false);
  });
});
