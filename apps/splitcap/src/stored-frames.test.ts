// What splitcap stores of each packet is enough for the worker's readers: the frame as uploaded (to the byte, up
// to FLEETCAP_STORED_FRAME_BYTES) with its link type, read back through the session store's reader into the same
// application metadata as the offline path.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { storedSessionMetadata } from '@fleetcap/lib/app-metadata/from-stored-session';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { TCP_ACK, TCP_PSH } from '@fleetcap/lib/packet/decode';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { META } from '@fleetcap/lib/session-store/layout';
import { buildSession } from '@fleetcap/lib/session-store/reader';
import { decodeBatch } from './batch-decoder.ts';

const client = { src: '10.0.0.9', sport: 51000, dst: '10.0.0.2', dport: 8008 };
const server = { src: client.dst, sport: client.dport, dst: client.src, dport: client.sport };
const request = Buffer.from('GET /index.html HTTP/1.1\r\nHost: intranet.example\r\nUser-Agent: curl/8.5.0\r\n\r\n');
const answer = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');

function frames(): Buffer[] {
  return [
    buildPacket({ proto: 'tcp', ...client, tcpFlags: TCP_ACK | TCP_PSH, payload: request }),
    buildPacket({ proto: 'tcp', ...server, tcpFlags: TCP_ACK | TCP_PSH, payload: answer }),
  ];
}

function upload(packets: Buffer[]): Buffer {
  const writer = new PcapWriter({ linktype: 1, nanosecond: false });
  for (const [i, data] of packets.entries()) {
    writer.write({ tsSec: 1_700_000_000, tsNsec: i * 1000, data, origLen: data.length });
  }
  return writer.toBuffer();
}

/** The session as the worker loads it: members numbered as the append script numbers them. */
function stored(storedFrameBytes?: number) {
  const [session] = [...decodeBatch(upload(frames()), 0, storedFrameBytes).sessions.values()];
  const members: Buffer[] = [];
  for (let i = 1; i < session!.args.length; i += 2) {
    members.push(Buffer.concat([Buffer.from(`${members.length + 1}:`), session!.args[i] as Buffer]));
  }
  const message = {
    key: session!.key,
    agent: 'host-1',
    communityId: session!.communityId,
    reason: 'delay' as const,
    occurrence: session!.firstUs,
    enqueuedAt: 0,
  };
  const meta = {
    [META.initiator]: String(session!.firstSide),
    [META.occurrence]: String(session!.firstUs),
    [META.first]: String(session!.firstUs),
    [META.last]: String(session!.lastUs),
    [META.packets]: String(members.length),
    [META.bytes]: String(session!.bytes),
  };
  return buildSession(message, meta, members);
}

describe('stored frames', () => {
  test('each packet comes back from the store as it was uploaded, with its link type', () => {
    const session = stored();
    assert.deepEqual(
      session.packets.map((p) => p.frame),
      frames(),
    );
    assert.deepEqual(
      session.packets.map((p) => [p.linktype, p.direction, p.payloadLength]),
      [
        [1, 0, request.length],
        [1, 1, answer.length],
      ],
    );
  });

  test('the worker reads the same application metadata from them as the offline path', () => {
    const metadata = storedSessionMetadata(stored());
    assert.equal(metadata.service, 'http');
    assert.equal(metadata.http?.host, 'intranet.example');
    assert.equal(metadata.http?.uri, '/index.html');
    assert.equal(metadata.http?.status, 200);
    assert.deepEqual(metadata.problems, []);
  });

  test('frames are cut at FLEETCAP_STORED_FRAME_BYTES, and 0 stores none (no metadata then)', () => {
    assert.deepEqual(
      stored(60).packets.map((p) => p.frame.length),
      [60, 60],
    );
    const none = stored(0);
    assert.deepEqual(
      none.packets.map((p) => p.frame.length),
      [0, 0],
    );
    assert.equal(storedSessionMetadata(none).http, undefined);
  });
});
