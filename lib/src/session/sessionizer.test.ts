import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildPacket, ipv4Packet, linkFrame } from '../packet/build.ts';
import { LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL2, TCP_ACK, TCP_FIN, TCP_SYN } from '../packet/decode.ts';
import { CapturedPacket, CaptureParser, readCaptureBuffer } from '../pcap/reader.ts';
import { PcapWriter } from '../pcap/writer.ts';
import { FROM_INITIATOR, Sessionizer, TO_INITIATOR } from './sessionizer.ts';

function captured(frame: Buffer, tsSec: number, tsNsec: number, origLen = frame.length, linktype = LINKTYPE_ETHERNET) {
  return new CapturedPacket(linktype, 0, tsSec, tsNsec, frame.length, origLen, frame, 0);
}

const client = { src: '192.168.0.10', sport: 50000, dst: '93.184.216.34', dport: 80 };
const server = { src: client.dst, sport: client.dport, dst: client.src, dport: client.sport };

describe('Sessionizer', () => {
  it('groups both directions into one session whose src is the first sender', () => {
    const sessionizer = new Sessionizer({ maxPacketsKept: 2 });
    sessionizer.add(captured(buildPacket({ ...server, proto: 'tcp', tcpFlags: TCP_ACK }), 100, 500, 60));
    sessionizer.add(captured(buildPacket({ ...client, proto: 'tcp', tcpFlags: TCP_SYN }), 99, 0, 74));
    sessionizer.add(
      captured(buildPacket({ ...server, proto: 'tcp', tcpFlags: TCP_FIN, payload: Buffer.alloc(10) }), 101, 1, 1514),
    );
    assert.equal(sessionizer.sessions.size, 1);
    const [session] = [...sessionizer.sessions.values()];
    assert.ok(session);
    assert.equal(session.key, 'tcp/192.168.0.10/50000/93.184.216.34/80');
    assert.equal(session.src, server.src, 'the server sent the first packet in the file');
    assert.equal(session.sport, 80);
    assert.equal(session.packets, 3);
    assert.equal(session.bytes, 60 + 74 + 1514, 'bytes are original wire lengths');
    assert.equal(session.packetsFromInitiator, 2);
    assert.equal(session.bytesFromInitiator, 60 + 1514);
    assert.equal(session.firstNs, 99_000_000_000n, 'first is the earliest capture time');
    assert.equal(session.lastNs, 101_000_000_001n);
    assert.equal(session.first, 99);
    assert.equal(session.tcpFlagsSeen, TCP_ACK | TCP_SYN | TCP_FIN);
    assert.deepEqual(
      session.packetList.map((p) => [p.direction, p.tsSec, p.length, p.tcpFlags]),
      [
        [FROM_INITIATOR, 100, 60, TCP_ACK],
        [TO_INITIATOR, 99, 74, TCP_SYN],
      ],
      'per-packet detail is kept up to maxPacketsKept, the counts go on',
    );
  });

  it("addRecord (the reader's reused record) and add (a packet object) agree", () => {
    const writer = new PcapWriter({ linktype: 1, nanosecond: true });
    writer.write({ tsSec: 5, tsNsec: 6, data: buildPacket({ ...client, proto: 'udp' }), origLen: 900 });
    writer.write({ tsSec: 7, tsNsec: 8, data: buildPacket({ ...server, proto: 'udp' }) });
    const file = writer.toBuffer();
    const viaPackets = new Sessionizer();
    for (const p of readCaptureBuffer(file)) viaPackets.add(p);
    const viaRecords = new Sessionizer();
    const parser = new CaptureParser();
    parser.push(file);
    parser.end();
    for (let r = parser.nextRecord(); r; r = parser.nextRecord()) viaRecords.addRecord(r);
    assert.deepEqual([...viaRecords.sessions.values()], [...viaPackets.sessions.values()]);
    assert.equal([...viaRecords.sessions.values()][0]?.bytes, 900 + 42);
  });

  it('keeps identical packets as distinct packets', () => {
    const sessionizer = new Sessionizer({ maxPacketsKept: 10 });
    const ack = buildPacket({ ...client, proto: 'tcp' });
    sessionizer.add(captured(ack, 1, 0));
    sessionizer.add(captured(ack, 1, 0));
    const [session] = [...sessionizer.sessions.values()];
    assert.equal(session?.packets, 2);
    assert.equal(session?.packetList.length, 2);
  });

  it('separates TCP from UDP, IPv4 from IPv6, and sessions across link types', () => {
    const sessionizer = new Sessionizer();
    sessionizer.add(captured(buildPacket({ ...client, proto: 'tcp' }), 1, 0));
    sessionizer.add(captured(buildPacket({ ...client, proto: 'udp' }), 1, 0));
    sessionizer.add(
      captured(buildPacket({ ...server, proto: 'udp', linktype: LINKTYPE_LINUX_SLL2 }), 2, 0, 100, LINKTYPE_LINUX_SLL2),
    );
    sessionizer.add(
      captured(buildPacket({ src: '2001:db8::1', dst: '2001:db8::2', sport: 1, dport: 2, proto: 'udp' }), 3, 0),
    );
    assert.deepEqual(
      [...sessionizer.sessions.values()].map((s) => [s.key, s.packets]),
      [
        ['tcp/192.168.0.10/50000/93.184.216.34/80', 1],
        ['udp/192.168.0.10/50000/93.184.216.34/80', 2],
        ['udp/2001:db8::1/1/2001:db8::2/2', 1],
      ],
    );
  });

  it('counts read, decoded and skipped packets by reason', () => {
    const sessionizer = new Sessionizer();
    sessionizer.add(captured(buildPacket({ ...client, proto: 'tcp' }), 1, 0));
    sessionizer.add(
      captured(
        linkFrame({ linktype: 1 }, ipv4Packet({ src: '1.1.1.1', dst: '2.2.2.2', protocol: 1 }, Buffer.alloc(8))),
        1,
        0,
      ),
    );
    sessionizer.add(
      captured(
        linkFrame(
          { linktype: 1 },
          ipv4Packet({ src: '1.1.1.1', dst: '2.2.2.2', protocol: 17, fragmentOffset: 10 }, Buffer.alloc(8)),
        ),
        1,
        0,
      ),
    );
    sessionizer.add(captured(Buffer.alloc(10), 1, 0));
    sessionizer.add(new CapturedPacket(127, 0, 1, 0, 4, 4, Buffer.alloc(4), 0));
    const c = sessionizer.counters;
    assert.equal(c.read, 5);
    assert.equal(c.decoded, 1);
    assert.deepEqual(c.skipped, {
      'unsupported-linktype': 1,
      'not-ip': 0,
      'other-l4': 1,
      truncated: 1,
      fragment: 1,
      malformed: 0,
      'time-out-of-range': 0,
    });
    assert.deepEqual(c.otherTransport, { 1: 1 });
  });
});
