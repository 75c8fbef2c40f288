// The offline collector recognises a UDP session as DNS or not as its datagrams arrive, and keeps no more payload of
// one that is not: its metadata must still be what appMetadataOf gives from every stored payload.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildPacket } from '../packet/build.ts';
import { LINKTYPE_ETHERNET } from '../packet/decode.ts';
import { Sessionizer } from '../session/sessionizer.ts';
import { PAYLOAD_BYTES_KEPT, SessionMetadataCollector, sessionMetadata } from './from-session.ts';

const client = { src: '10.0.0.1', sport: 40000, dst: '10.0.0.2', dport: 53 };
const server = { src: client.dst, sport: client.dport, dst: client.src, dport: client.sport };

/** A DNS query for www.example.com, type A. */
function dnsQuery(id: number): Buffer {
  const name = Buffer.from([3, ...Buffer.from('www'), 7, ...Buffer.from('example'), 3, ...Buffer.from('com'), 0]);
  const header = Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([header, name, Buffer.from([0, 1, 0, 1])]);
}

interface Datagram {
  fromClient: boolean;
  payload: Buffer;
}

/**
 * The session of `datagrams` through a sessionizer fed to the collector (as `fleetcap sessions` runs it) and through
 * one that keeps every payload (the reference): the collector's JSON, the reference's, and the payloads the first
 * kept.
 */
function bothWays(datagrams: Datagram[], maxPacketsKept = 24) {
  const options = { maxPacketsKept, payloadBytesKept: PAYLOAD_BYTES_KEPT };
  const collected = new Sessionizer(options);
  const collector = new SessionMetadataCollector(maxPacketsKept, collected);
  const reference = new Sessionizer(options);
  datagrams.forEach((d, i) => {
    const frame = buildPacket({ ...(d.fromClient ? client : server), proto: 'udp', payload: d.payload });
    collector.added(collected.addPacket(LINKTYPE_ETHERNET, frame, 0, frame.length, frame.length, 1_700_000_000, i));
    reference.addPacket(LINKTYPE_ETHERNET, frame, 0, frame.length, frame.length, 1_700_000_000, i);
  });
  const session = [...collected.sessions.values()][0]!;
  const twin = [...reference.sessions.values()][0]!;
  return {
    json: collector.jsonOf(session),
    problems: collector.problemsOf(session),
    expected: JSON.stringify(sessionMetadata(twin)),
    keptPayloads: session.packetList.map((p) => p.payload?.length ?? -1),
  };
}

describe('SessionMetadataCollector: UDP recognised as datagrams arrive', () => {
  it('a session whose first two datagrams with payload are not DNS keeps no more payload, with the same metadata', () => {
    const r = bothWays([
      { fromClient: true, payload: Buffer.from('hello') },
      { fromClient: false, payload: Buffer.from('world') },
      { fromClient: true, payload: dnsQuery(7) },
    ]);
    assert.equal(r.json, r.expected);
    assert.equal(r.json, '{"problems":["dns.unrecognised_payload"],"needsMorePackets":[]}');
    assert.deepEqual(r.problems, ['dns.unrecognised_payload']);
    // Dropped once decided (undefined: -1), and the later datagram kept with none (0 bytes).
    assert.deepEqual(r.keptPayloads, [-1, -1, 0]);
  });

  it('a DNS datagram among the first two makes the session DNS, its payloads kept and parsed', () => {
    const r = bothWays([
      { fromClient: true, payload: Buffer.from('hello') },
      { fromClient: true, payload: dnsQuery(9) },
      { fromClient: false, payload: Buffer.from('tail') },
    ]);
    assert.equal(r.json, r.expected);
    assert.equal(JSON.parse(r.json).service, 'dns');
    assert.equal(JSON.parse(r.json).dns.queryName, 'www.example.com');
    assert.deepEqual(r.keptPayloads, [5, dnsQuery(9).length, 4]);
  });

  it('datagrams without payload do not count towards the decision', () => {
    const r = bothWays([
      { fromClient: true, payload: Buffer.alloc(0) },
      { fromClient: true, payload: Buffer.from('hello') },
      { fromClient: false, payload: Buffer.alloc(0) },
      { fromClient: false, payload: dnsQuery(3) },
    ]);
    assert.equal(r.json, r.expected);
    assert.equal(JSON.parse(r.json).service, 'dns');
  });

  it('a session computed at its packet past the store (then freed) gives what the reference gives', () => {
    const datagrams = Array.from({ length: 6 }, (_, i) => ({ fromClient: i % 2 === 0, payload: Buffer.from(`x${i}`) }));
    const r = bothWays(datagrams, 4);
    assert.equal(r.json, r.expected);
    assert.equal(r.json, '{"problems":["dns.unrecognised_payload"],"needsMorePackets":[]}');
  });
});
