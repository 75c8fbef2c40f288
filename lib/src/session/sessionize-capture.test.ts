// The offline path's loop with its phases as options: each phase's result is there exactly when asked for, and a
// capture broken midway still gives what was read before the break.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildPacket } from '../packet/build.ts';
import { pcapFile } from '../pcap/hand-built-captures.ts';
import { sessionizeCapture } from './sessionize-capture.ts';

const client = { src: '10.0.0.1', sport: 40000, dst: '10.0.0.2', dport: 8008 };
const server = { src: client.dst, sport: client.dport, dst: client.src, dport: client.sport };
const request = Buffer.from('GET /index.html HTTP/1.1\r\nHost: example.org\r\n\r\n');
const response = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');

/** One HTTP exchange on a port that is not HTTP's, and a DNS-less UDP datagram: two sessions. */
function capture(): Buffer {
  const frames = [
    buildPacket({ ...client, proto: 'tcp', payload: request }),
    buildPacket({ ...server, proto: 'tcp', payload: response }),
    buildPacket({
      src: '10.0.0.3',
      sport: 5000,
      dst: '10.0.0.4',
      dport: 6000,
      proto: 'udp',
      payload: Buffer.from('x'),
    }),
  ];
  return pcapFile({
    littleEndian: true,
    nanosecond: false,
    records: frames.map((data, i) => ({ sec: 1_700_000_000 + i, frac: 0, data })),
  });
}

describe('sessionizeCapture', () => {
  it('runs every phase asked for: sessions, records and metadata from the kept packets', async () => {
    const run = await sessionizeCapture([capture()], { metadata: true });
    assert.equal(run.error, undefined);
    assert.equal(run.parser.counters.format, 'pcap');
    const sessions = [...run.sessionizer!.sessions.values()];
    assert.equal(sessions.length, 2);
    const tcp = sessions.find((s) => s.proto === 'tcp')!;
    assert.equal(tcp.packets, 2);
    assert.equal(tcp.packetsKept, 2, 'metadata keeps the packets it reads');
    assert.match(run.records!.get(tcp)!.communityId!, /^1:/);
    assert.equal(run.records!.get(tcp)!.first.origPkts, 1);
    assert.equal(run.metadata!.metadataOf(tcp).service, 'http');
    assert.equal(run.metadata!.metadataOf(tcp).http?.host, 'example.org');
  });

  it('leaves out the phases not asked for', async () => {
    const noRecords = await sessionizeCapture([capture()], { records: false });
    assert.equal(noRecords.records, undefined);
    assert.equal(noRecords.metadata, undefined);
    const tcp = [...noRecords.sessionizer!.sessions.values()].find((s) => s.proto === 'tcp')!;
    assert.equal(tcp.packetsKept, 0, 'no packet kept without metadata');

    const kept = await sessionizeCapture([capture()], { records: false, keepPackets: true });
    assert.equal(kept.metadata, undefined);
    assert.equal([...kept.sessionizer!.sessions.values()].find((s) => s.proto === 'tcp')!.packetsKept, 2);

    const readOnly = await sessionizeCapture([capture()], { sessions: false, metadata: true });
    assert.equal(readOnly.sessionizer, undefined);
    assert.equal(readOnly.records, undefined);
    assert.equal(readOnly.metadata, undefined);
  });

  it('calls onPacket with each packet and its direction', async () => {
    const seen: boolean[] = [];
    await sessionizeCapture([capture()], { onPacket: (_s, _d, fromInitiator) => seen.push(fromInitiator) });
    assert.deepEqual(seen, [true, false, true]);
  });

  it('returns the format error with the sessions read before it', async () => {
    const whole = capture();
    // The third record's header claims more bytes than the format allows: the reader stops there.
    const broken = Buffer.from(whole);
    const third =
      24 +
      2 * 16 +
      buildPacket({ ...client, proto: 'tcp', payload: request }).length +
      buildPacket({ ...server, proto: 'tcp', payload: response }).length;
    broken.writeUInt32LE(0x7fffffff, third + 8);
    broken.writeUInt32LE(0x7fffffff, third + 12);
    const run = await sessionizeCapture([broken], {});
    assert.ok(run.error, 'the error is returned, not thrown');
    // The reader names the length field it could not trust.
    assert.equal(run.error.offset, third + 8);
    assert.equal(run.sessionizer!.sessions.size, 1);
  });
});
