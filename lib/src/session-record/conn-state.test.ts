import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildPacket, ipv4Packet, linkFrame } from '../packet/build.ts';
import {
  DecodedPacket,
  decodePacket,
  LINKTYPE_ETHERNET,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
} from '../packet/decode.ts';
import { communityId } from './community-id.ts';
import { ConnRecord } from './conn-state.ts';
import { ConnTracker, type ConnTrackerOptions, connPacketOf, originatorOf } from './conn-tracker.ts';

const CLIENT = { address: '10.0.0.1', port: 40000 };
const SERVER = { address: '10.0.0.2', port: 80 };
const S = 1_000_000;

interface TcpSpec {
  from: 'client' | 'server';
  flags: number;
  seq: number;
  ack?: number;
  payload?: number;
  window?: number;
  /** µs after the start. */
  at: number;
}

function ones(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Writes the right IP and transport checksums into a built Ethernet/IPv4 TCP or UDP frame (build.ts leaves 0). */
function withChecksum(frame: Buffer, protocol: 6 | 17): Buffer {
  const ip = 14;
  let header = 0;
  for (let i = ip; i < ip + 20; i += 2) header += frame.readUInt16BE(i);
  frame.writeUInt16BE(ones(header), ip + 10);
  const transport = ip + (frame[ip]! & 0x0f) * 4;
  const length = frame.length - transport;
  const field = transport + (protocol === 6 ? 16 : 6);
  frame.writeUInt16BE(0, field);
  let sum = 0;
  for (let i = ip + 12; i < ip + 20; i += 2) sum += frame.readUInt16BE(i);
  sum += protocol + length;
  for (let i = transport; i < frame.length; i += 2) sum += (frame[i]! << 8) | (frame[i + 1] ?? 0);
  frame.writeUInt16BE(ones(sum) || 0xffff, field);
  return frame;
}

function tcpFrame(spec: TcpSpec): Buffer {
  const [src, dst] = spec.from === 'client' ? [CLIENT, SERVER] : [SERVER, CLIENT];
  const frame = buildPacket({
    src: src.address,
    dst: dst.address,
    proto: 'tcp',
    sport: src.port,
    dport: dst.port,
    tcpFlags: spec.flags,
    payload: Buffer.alloc(spec.payload ?? 0, 0x61),
  });
  frame.writeUInt32BE(spec.seq >>> 0, 14 + 20 + 4);
  frame.writeUInt32BE((spec.ack ?? 0) >>> 0, 14 + 20 + 8);
  frame.writeUInt16BE(spec.window ?? 65535, 14 + 20 + 14);
  return withChecksum(frame, 6);
}

function track(frames: Array<[Buffer, number]>, options: ConnTrackerOptions = {}) {
  const tracker = new ConnTracker(options);
  const decoded = new DecodedPacket();
  for (const [frame, at] of frames) {
    const skip = decodePacket(LINKTYPE_ETHERNET, frame, decoded);
    tracker.add(decoded, skip, 1_700_000_000 * S + at);
  }
  return tracker.connections;
}

function tcp(specs: TcpSpec[], options?: ConnTrackerOptions) {
  return track(
    specs.map((s) => [tcpFrame(s), s.at]),
    options,
  );
}

function only<T>(list: T[]): T {
  assert.equal(list.length, 1, `expected one connection, got ${list.length}`);
  return list[0]!;
}

const HANDSHAKE: TcpSpec[] = [
  { from: 'client', flags: TCP_SYN, seq: 100, at: 0 },
  { from: 'server', flags: TCP_SYN | TCP_ACK, seq: 500, ack: 101, at: 1000 },
  { from: 'client', flags: TCP_ACK, seq: 101, ack: 501, at: 2000 },
];

const FULL: TcpSpec[] = [
  ...HANDSHAKE,
  { from: 'client', flags: TCP_PSH | TCP_ACK, seq: 101, ack: 501, payload: 10, at: 3000 },
  { from: 'server', flags: TCP_ACK, seq: 501, ack: 111, at: 4000 },
  { from: 'server', flags: TCP_PSH | TCP_ACK, seq: 501, ack: 111, payload: 20, at: 5000 },
  { from: 'client', flags: TCP_FIN | TCP_ACK, seq: 111, ack: 521, at: 6000 },
  { from: 'server', flags: TCP_FIN | TCP_ACK, seq: 521, ack: 112, at: 7000 },
  { from: 'client', flags: TCP_ACK, seq: 112, ack: 522, at: 8000 },
];

describe('ConnRecord: TCP', () => {
  it('a normal connection is SF with ShADadFf, counters per direction, duration to the last FIN', () => {
    const c = only(tcp(FULL));
    const r = c.record;
    assert.equal(r.connState, 'SF');
    assert.equal(r.history, 'ShADadFf');
    assert.deepEqual([r.origPkts, r.respPkts], [5, 4]);
    assert.deepEqual([r.origIpBytes, r.respIpBytes], [5 * 40 + 10, 4 * 40 + 20]);
    assert.deepEqual([r.origBytes, r.respBytes], [10, 20]);
    assert.equal(r.duration, 0.007);
    assert.deepEqual(originatorOf(c), { origH: '10.0.0.1', origP: 40000, respH: '10.0.0.2', respP: 80 });
  });

  const states: Array<[string, TcpSpec[], string, string]> = [
    ['an unanswered SYN', [HANDSHAKE[0]!], 'S0', 'S'],
    [
      'a SYN answered by a RST',
      [HANDSHAKE[0]!, { from: 'server', flags: TCP_RST | TCP_ACK, seq: 0, ack: 101, at: 500 }],
      'REJ',
      'Sr',
    ],
    ['an established connection', HANDSHAKE, 'S1', 'ShA'],
    ['an originator abort', [...HANDSHAKE, { from: 'client', flags: TCP_RST, seq: 101, at: 3000 }], 'RSTO', 'ShAR'],
    ['a responder abort', [...HANDSHAKE, { from: 'server', flags: TCP_RST, seq: 501, at: 3000 }], 'RSTR', 'ShAr'],
    ['a SYN then a RST', [HANDSHAKE[0]!, { from: 'client', flags: TCP_RST, seq: 101, at: 500 }], 'RSTOS0', 'SR'],
    ['a SYN then a FIN', [HANDSHAKE[0]!, { from: 'client', flags: TCP_FIN, seq: 101, at: 500 }], 'SH', 'SF'],
    [
      'a close by the originator only',
      [...HANDSHAKE, { from: 'client', flags: TCP_FIN | TCP_ACK, seq: 101, ack: 501, at: 3000 }],
      'S2',
      'ShAF',
    ],
    [
      'a close by the responder only',
      [...HANDSHAKE, { from: 'server', flags: TCP_FIN | TCP_ACK, seq: 501, ack: 101, at: 3000 }],
      'S3',
      'ShAf',
    ],
    [
      'a SYN-ACK then a RST from its sender',
      [
        { from: 'client', flags: TCP_SYN | TCP_ACK, seq: 100, ack: 7, at: 0 },
        { from: 'client', flags: TCP_RST, seq: 101, at: 10 },
      ],
      'OTH',
      'HR',
    ],
    [
      'midstream data',
      [{ from: 'client', flags: TCP_ACK | TCP_PSH, seq: 9000, ack: 7, payload: 5, at: 0 }],
      'OTH',
      'D',
    ],
    ['SYN with FIN', [{ from: 'client', flags: TCP_SYN | TCP_FIN, seq: 9000, at: 0 }], 'SH', 'Q'],
    ['FIN with RST', [{ from: 'client', flags: TCP_FIN | TCP_RST | TCP_ACK, seq: 9000, ack: 1, at: 0 }], 'OTH', 'I'],
  ];
  for (const [name, specs, state, history] of states) {
    it(`${name}: ${state} ${history}`, () => {
      const r = only(tcp(specs)).record;
      assert.equal(r.connState, state);
      assert.equal(r.history, history);
    });
  }

  it('midstream data from a likely server port makes its receiver the originator (^)', () => {
    const c = only(tcp([{ from: 'server', flags: TCP_ACK | TCP_PSH, seq: 9000, ack: 7, payload: 5, at: 0 }]));
    assert.equal(c.record.history, '^d');
    assert.equal(originatorOf(c).origH, CLIENT.address);
    assert.deepEqual([c.record.origPkts, c.record.respPkts], [0, 1]);
  });

  it('a SYN arriving after its SYN-ACK flips the roles', () => {
    const r = only(
      tcp(
        [
          { from: 'client', flags: TCP_SYN | TCP_ACK, seq: 500, ack: 101, at: 0 },
          { from: 'server', flags: TCP_SYN, seq: 100, at: 10 },
          { from: 'server', flags: TCP_ACK, seq: 101, ack: 501, at: 20 },
        ],
        // No port is a likely server port here, so the first packet's sender starts as the originator.
        { likelyServerPorts: { tcp: new Set(), udp: new Set() } },
      ),
    ).record;
    // Zeek writes a packet's letter before the state machine flips the roles for it.
    assert.equal(r.history, 'Hs^A');
    assert.equal(r.connState, 'S1');
  });

  it('marks retransmitted data (T at the 1st and 10th time) and zero windows (w)', () => {
    const resend = (at: number): TcpSpec => ({
      from: 'client',
      flags: TCP_PSH | TCP_ACK,
      seq: 101,
      ack: 501,
      payload: 10,
      at,
    });
    const specs = [...HANDSHAKE, resend(3000), ...Array.from({ length: 10 }, (_, i) => resend(4000 + i))];
    specs.push({ from: 'server', flags: TCP_ACK, seq: 501, ack: 111, window: 0, at: 20000 });
    const r = only(tcp(specs)).record;
    assert.equal(r.history, 'ShADTTaw');
  });

  it('marks bad checksums (C) when asked to verify and does not count those packets', () => {
    const bad = tcpFrame({ from: 'client', flags: TCP_ACK, seq: 101, ack: 501, at: 3000 });
    bad.writeUInt8(bad.readUInt8(bad.length - 4) ^ 0xff, bad.length - 4);
    const frames: Array<[Buffer, number]> = [
      ...HANDSHAKE.map((s): [Buffer, number] => [tcpFrame(s), s.at]),
      [bad, 3000],
    ];
    const r = only(track(frames, { verifyChecksums: true })).record;
    assert.equal(r.history, 'ShAC');
    assert.equal(r.origPkts, 2);
    assert.equal(only(track(frames)).record.history, 'ShA');
  });

  it('starts a new connection on a SYN after a close, and on any packet 5 s after it', () => {
    const reuse = tcp([...FULL, { from: 'client', flags: TCP_SYN, seq: 7777, at: 9000 }]);
    assert.deepEqual(
      reuse.map((c) => [c.record.connState, c.record.history]),
      [
        ['SF', 'ShADadFf'],
        ['S0', 'S'],
      ],
    );
    const late = tcp([...FULL, { from: 'client', flags: TCP_ACK, seq: 112, ack: 522, at: 7000 + 5 * S }]);
    assert.equal(late.length, 2);
    assert.equal(late[1]!.record.connState, 'OTH');
  });

  it('gives up an unanswered SYN after 5 s: a retransmission later is a new attempt', () => {
    const attempts = tcp([
      { from: 'client', flags: TCP_SYN, seq: 100, at: 0 },
      { from: 'client', flags: TCP_SYN, seq: 100, at: 3 * S },
      { from: 'client', flags: TCP_SYN, seq: 100, at: 9 * S },
    ]);
    assert.deepEqual(
      attempts.map((c) => [c.record.history, c.record.origPkts]),
      [
        ['S', 2],
        ['S', 1],
      ],
    );
  });

  it('continues the same way after serialize/deserialize between any two packets', () => {
    const decoded = new DecodedPacket();
    const packets = FULL.map((spec) => {
      decodePacket(LINKTYPE_ETHERNET, tcpFrame(spec), decoded);
      return connPacketOf(decoded, spec.at, spec.from === 'client');
    });
    const whole = ConnRecord.start(6, 40000, 80, packets[0]!);
    for (const p of packets.slice(1)) whole.add(p);
    for (let cut = 1; cut < packets.length; cut++) {
      let record = ConnRecord.start(6, 40000, 80, packets[0]!);
      for (const [i, p] of packets.slice(1).entries()) {
        if (i + 1 === cut) record = ConnRecord.deserialize(record.serialize());
        record.add(p);
      }
      assert.equal(record.serialize(), whole.serialize(), `cut before packet ${cut}`);
    }
    const text = whole.serialize();
    assert.ok(text.length < 200, `serialised state is ${text.length} characters: ${text}`);
    assert.throws(() => ConnRecord.deserialize('1.2.3|'), /not a serialised connection record/);
  });
});

function udpFrame(from: 'client' | 'server', port = 53, payload = 20): Buffer {
  const client = { address: '10.0.0.1', port: 5555 };
  const server = { address: '10.0.0.2', port };
  const [src, dst] = from === 'client' ? [client, server] : [server, client];
  return withChecksum(
    buildPacket({
      src: src.address,
      dst: dst.address,
      proto: 'udp',
      sport: src.port,
      dport: dst.port,
      payload: Buffer.alloc(payload),
    }),
    17,
  );
}

describe('ConnRecord: UDP, ICMP and other protocols', () => {
  it('a query and its answer is SF Dd; a lone query S0; a lone answer flips to SHR ^d', () => {
    const both = only(
      track([
        [udpFrame('client'), 0],
        [udpFrame('server'), 100],
      ]),
    ).record;
    assert.deepEqual([both.connState, both.history, both.origPkts, both.respPkts], ['SF', 'Dd', 1, 1]);
    assert.equal(both.origIpBytes, 20 + 8 + 20);
    assert.equal(only(track([[udpFrame('client'), 0]])).record.connState, 'S0');
    const answer = only(track([[udpFrame('server'), 0]])).record;
    assert.deepEqual([answer.connState, answer.history], ['SHR', '^d']);
  });

  it('ends an idle UDP flow after 1 min, and a DNS one when quiet for about 10 s', () => {
    const other = track([
      [udpFrame('client', 9999), 0],
      [udpFrame('client', 9999), 59 * S],
      [udpFrame('client', 9999), 120 * S],
    ]);
    assert.equal(other.length, 2);
    const dns = track([
      [udpFrame('client'), 0],
      [udpFrame('server'), 1000],
      [udpFrame('client'), 12 * S],
    ]);
    assert.equal(dns.length, 2);
    const busyDns = track([
      [udpFrame('client'), 0],
      [udpFrame('client'), 5 * S],
      [udpFrame('client'), 11 * S],
    ]);
    assert.equal(busyDns.length, 1);
  });

  it('an ICMP echo and its reply are one OTH connection with no history', () => {
    const echo = (type: number, src: string, dst: string) =>
      linkFrame(
        { linktype: LINKTYPE_ETHERNET },
        ipv4Packet({ src, dst, protocol: 1 }, Buffer.from([type, 0, 0, 0, 0, 1, 0, 1, 9, 9])),
      );
    const c = only(
      track([
        [echo(8, '10.0.0.1', '10.0.0.2'), 0],
        [echo(0, '10.0.0.2', '10.0.0.1'), 500],
      ]),
    );
    assert.deepEqual(
      [c.record.connState, c.record.history, c.record.origPkts, c.record.respPkts, c.record.origBytes],
      ['OTH', '', 1, 1, 2],
    );
    assert.deepEqual([c.initiatorPort, c.responderPort], [8, 0]);
    assert.equal(c.communityId, communityId({ protocol: 1, src: '10.0.0.2', dst: '10.0.0.1', sport: 0, dport: 8 }));
  });

  it('another IP protocol is tracked by its addresses', () => {
    const gre = (src: string, dst: string) =>
      linkFrame({ linktype: LINKTYPE_ETHERNET }, ipv4Packet({ src, dst, protocol: 47 }, Buffer.alloc(12)));
    const c = only(
      track([
        [gre('10.0.0.1', '10.0.0.2'), 0],
        [gre('10.0.0.2', '10.0.0.1'), 10],
      ]),
    );
    assert.deepEqual([c.record.connState, c.record.origPkts, c.record.respPkts], ['OTH', 1, 1]);
  });
});
