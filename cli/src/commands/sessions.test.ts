import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { TCP_ACK, TCP_FIN, TCP_SYN } from '@fleetcap/lib/packet/decode';
import { readCaptureBuffer } from '@fleetcap/lib/pcap/reader';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { Sessionizer } from '@fleetcap/lib/session/sessionizer';
import { EXIT_ALL_READ, EXIT_SOME_UNREADABLE, runSessions } from './sessions.ts';

const dir = mkdtempSync(join(tmpdir(), 'fleetcap-sessions-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function capture(name: string): string {
  const writer = new PcapWriter({ linktype: 1, nanosecond: true });
  const client = { src: '10.1.1.1', sport: 40000, dst: '10.2.2.2', dport: 443 };
  const server = { src: client.dst, sport: client.dport, dst: client.src, dport: client.sport };
  writer.write({
    tsSec: 1_700_000_000,
    tsNsec: 250_000_000,
    data: buildPacket({ ...client, proto: 'tcp', tcpFlags: TCP_SYN }),
  });
  writer.write({
    tsSec: 1_700_000_000,
    tsNsec: 500_000_000,
    data: buildPacket({ ...server, proto: 'tcp', tcpFlags: TCP_SYN | TCP_ACK }),
  });
  writer.write({ tsSec: 1_700_000_001, tsNsec: 0, data: buildPacket({ ...client, proto: 'tcp' }), origLen: 1514 });
  writer.write({
    tsSec: 1_700_000_002,
    tsNsec: 0,
    data: buildPacket({ src: '2001:db8::5', dst: '2001:db8::53', sport: 5353, dport: 53, proto: 'udp' }),
  });
  writer.write({ tsSec: 1_700_000_003, tsNsec: 0, data: Buffer.alloc(42) });
  const path = join(dir, name);
  writeFileSync(path, writer.toBuffer());
  return path;
}

function collector() {
  let text = '';
  return {
    write: (chunk: string) => {
      text += chunk;
    },
    get text() {
      return text;
    },
  };
}

describe('fleetcap sessions', () => {
  it('--json prints one line per session then a summary per file', async () => {
    const file = capture('a.pcap');
    const out = collector();
    const err = collector();
    assert.equal(await runSessions([file], { json: true }, out, err), EXIT_ALL_READ);
    assert.equal(err.text, '');
    const lines = out.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.equal(lines.length, 3);
    assert.deepEqual(
      { ...lines[0], file: undefined, key: undefined },
      {
        type: 'session',
        file: undefined,
        key: undefined,
        proto: 'tcp',
        src: '10.1.1.1',
        sport: 40000,
        dst: '10.2.2.2',
        dport: 443,
        packets: 3,
        bytes: 54 + 54 + 1514,
        first: 1_700_000_000.25,
        last: 1_700_000_001,
        packetsFromSrc: 2,
        bytesFromSrc: 54 + 1514,
        // The session record: Community ID (as PyPI communityid computes it) and Zeek's conn.log fields.
        communityId: '1:NSC+Sf+8THNdICV4Y+n5+DcDtZY=',
        connState: 'S1',
        history: 'ShA',
        originator: 'src',
        origPkts: 2,
        origIpBytes: 40 + 40,
        respPkts: 1,
        respIpBytes: 40,
        duration: 0.75,
        zeekConnections: 1,
      },
    );
    assert.equal(lines[1].src, '2001:db8::5');
    assert.equal(lines[1].proto, 'udp');
    assert.equal(lines[1].communityId, '1:89L/AvfiHp4RT0UIhlMe4a75fcg=');
    assert.deepEqual([lines[1].connState, lines[1].history, lines[1].origIpBytes], ['S0', 'D', 48]);
    assert.equal(lines[2].type, 'summary');
    assert.equal(lines[2].file, file);
    assert.equal(lines[2].read, 5);
    assert.equal(lines[2].decoded, 4);
    assert.equal(lines[2].skipped['not-ip'], 1);
    assert.equal(lines[2].sessions, 2);
  });

  it('--json: a 5-tuple reused after a close is one session spanning two Zeek connections, the first described', async () => {
    const writer = new PcapWriter({ linktype: 1 });
    const client = { src: '10.1.1.1', sport: 40000, dst: '10.2.2.2', dport: 8443, proto: 'tcp' as const };
    const server = {
      src: client.dst,
      sport: client.dport,
      dst: client.src,
      dport: client.sport,
      proto: 'tcp' as const,
    };
    const packets: Array<[typeof client, number, number, number]> = [
      [client, TCP_SYN, 100, 0],
      [server, TCP_SYN | TCP_ACK, 500, 101],
      [client, TCP_ACK, 101, 501],
      [client, TCP_FIN | TCP_ACK, 101, 501],
      [server, TCP_FIN | TCP_ACK, 501, 102],
      [client, TCP_ACK, 102, 502],
      [client, TCP_SYN, 9000, 0],
    ];
    packets.forEach(([endpoint, tcpFlags, seq, ack], i) => {
      const data = buildPacket({ ...endpoint, tcpFlags });
      data.writeUInt32BE(seq, 14 + 20 + 4);
      data.writeUInt32BE(ack, 14 + 20 + 8);
      writer.write({ tsSec: 1_700_000_000 + i, tsNsec: 0, data });
    });
    const path = join(dir, 'reuse.pcap');
    writeFileSync(path, writer.toBuffer());
    const out = collector();
    assert.equal(await runSessions([path], { json: true }, out, collector()), EXIT_ALL_READ);
    const [line] = out.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      [line.packets, line.connState, line.history, line.origPkts, line.respPkts, line.duration, line.zeekConnections],
      [7, 'SF', 'ShAFf', 4, 2, 4, 2],
    );
  });

  it('prints a readable table without --json', async () => {
    const out = collector();
    assert.equal(await runSessions([capture('b.pcap')], {}, out, collector()), EXIT_ALL_READ);
    assert.match(out.text, /tcp\s+10\.1\.1\.1:40000\s+10\.2\.2\.2:443\s+3\s+1622/);
    assert.match(out.text, /udp\s+\[2001:db8::5\]:5353\s+\[2001:db8::53\]:53/);
    assert.match(out.text, /packets read 5, decoded 4, skipped 1 \(not-ip 1\)/);
  });

  it('reports an unreadable file on stderr, goes on with the others, and exits 2', async () => {
    const good = capture('c.pcap');
    const missing = join(dir, 'missing.pcap');
    const garbage = join(dir, 'garbage.pcap');
    writeFileSync(garbage, 'this is not a capture file at all');
    const out = collector();
    const err = collector();
    assert.equal(await runSessions([missing, garbage, good], { json: true }, out, err), EXIT_SOME_UNREADABLE);
    assert.match(err.text, /missing\.pcap: ENOENT/);
    assert.match(
      err.text,
      /garbage\.pcap: not a pcap or pcapng file: unknown magic number 0x74686973 \(at file offset 0\)/,
    );
    const summaries = out.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .filter((line) => line.type === 'summary');
    assert.deepEqual(
      summaries.map((s) => [s.file, s.read, s.error?.offset]),
      [
        [missing, 0, undefined],
        [garbage, 0, 0],
        [good, 5, undefined],
      ],
    );
  });

  it('reads a file larger than its read buffer, records straddling the chunk boundaries', async () => {
    const writer = new PcapWriter({ linktype: 1 });
    for (let i = 0; i < 6000; i++) {
      const spec = {
        src: `10.0.${i % 7}.1`,
        dst: '10.9.9.9',
        sport: 1000 + (i % 13),
        dport: 80,
        proto: 'tcp' as const,
      };
      writer.write({
        tsSec: 1_700_000_000 + i,
        tsNsec: 0,
        data: buildPacket({ ...spec, payload: Buffer.alloc(700 + (i % 301)) }),
      });
    }
    const path = join(dir, 'large.pcap');
    const file = writer.toBuffer();
    assert.ok(file.length > 5 << 20);
    writeFileSync(path, file);
    const expected = new Sessionizer();
    for (const packet of readCaptureBuffer(file)) expected.add(packet);
    const out = collector();
    assert.equal(await runSessions([path], { json: true }, out, collector()), EXIT_ALL_READ);
    const lines = out.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    const summary = lines.pop();
    assert.equal(summary.read, 6000);
    assert.equal(summary.truncatedAtEnd, 0);
    assert.deepEqual(
      lines.map((l) => [l.key, l.packets, l.bytes, l.first, l.last]),
      [...expected.sessions.values()].map((s) => [s.key, s.packets, s.bytes, s.first, s.last]),
    );
  });

  it('is registered in the fleetcap command line', () => {
    const bin = fileURLToPath(new URL('../../bin/fleetcap.mjs', import.meta.url));
    const result = spawnSync(process.execPath, [bin, 'sessions', '--json', capture('d.pcap')], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim().split('\n').length, 3);
  });
});

describe('fleetcap sessions: capture times', () => {
  function oddTimes(): string {
    const writer = new PcapWriter({ linktype: 1 });
    const data = buildPacket({ src: '10.3.0.1', dst: '10.3.0.2', sport: 1234, dport: 53, proto: 'udp' });
    for (const tsSec of [1_700_000_000, 0, 0xfffffff0, 1_700_000_001]) writer.write({ tsSec, tsNsec: 0, data });
    const path = join(dir, 'odd-times.pcap');
    writeFileSync(path, writer.toBuffer());
    return path;
  }

  it('skips and counts packets outside the window, as splitcap does, and says so; --any-time keeps them', async () => {
    const file = oddTimes();
    const out = collector();
    const err = collector();
    assert.equal(await runSessions([file], { json: true }, out, err), EXIT_ALL_READ);
    assert.match(err.text, /skipped 2 packets captured outside 1990-01-01T00:00:00.000Z to .*--any-time keeps them/);
    const [session, summary] = out.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.equal(session.packets, 2);
    assert.equal(session.first, 1_700_000_000);
    assert.equal(session.last, 1_700_000_001);
    assert.equal(summary.skipped['time-out-of-range'], 2);

    const any = collector();
    const quiet = collector();
    assert.equal(await runSessions([file], { json: true, anyTime: true }, any, quiet), EXIT_ALL_READ);
    assert.equal(quiet.text, '');
    assert.equal(JSON.parse(any.text.split('\n')[0]!).packets, 4);
  });
});
