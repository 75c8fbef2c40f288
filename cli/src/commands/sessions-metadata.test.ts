// `fleetcap sessions` with application metadata (the command line's default): a `metadata` object per session,
// problem counts in the summary, a service column in the table, and none of it with --no-metadata.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { TCP_ACK, TCP_PSH, TCP_SYN } from '@fleetcap/lib/packet/decode';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { EXIT_ALL_READ, runSessions } from './sessions.ts';

const dir = mkdtempSync(join(tmpdir(), 'fleetcap-sessions-metadata-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A TCP packet with a sequence number (buildPacket writes 1): Ethernet 14 + IPv4 20, then seq at offset 4. */
function tcp(spec: Parameters<typeof buildPacket>[0], seq: number): Buffer {
  const frame = buildPacket(spec);
  frame.writeUInt32BE(seq, 14 + 20 + 4);
  return frame;
}

/** HTTP on port 8008, its request split over two segments, then 30 more packets; and binary bytes on port 80. */
function capture(): string {
  const writer = new PcapWriter({ linktype: 1, nanosecond: true });
  const c = { src: '10.1.1.1', sport: 40000, dst: '10.2.2.2', dport: 8008, proto: 'tcp' as const };
  const s = { src: c.dst, sport: c.dport, dst: c.src, dport: c.sport, proto: 'tcp' as const };
  let t = 0;
  const write = (data: Buffer) => writer.write({ tsSec: 1_700_000_000, tsNsec: t++ * 1000, data });
  write(tcp({ ...c, tcpFlags: TCP_SYN }, 99));
  write(tcp({ ...s, tcpFlags: TCP_SYN | TCP_ACK }, 499));
  write(tcp({ ...c, tcpFlags: TCP_PSH | TCP_ACK, payload: Buffer.from('GET /x HTTP/1.1\r\nHo') }, 100));
  write(tcp({ ...c, tcpFlags: TCP_PSH | TCP_ACK, payload: Buffer.from('st: a.example\r\n\r\n') }, 119));
  write(tcp({ ...s, tcpFlags: TCP_PSH | TCP_ACK, payload: Buffer.from('HTTP/1.1 204 No Content\r\n\r\n') }, 500));
  for (let i = 0; i < 30; i++) write(tcp({ ...c, tcpFlags: TCP_ACK }, 137));
  const b = { src: '10.1.1.1', sport: 40001, dst: '10.2.2.3', dport: 80, proto: 'tcp' as const };
  write(tcp({ ...b, tcpFlags: TCP_PSH | TCP_ACK, payload: Buffer.from([0, 1, 2, 3, 0xff, 0xfe]) }, 1));
  const path = join(dir, 'http.pcap');
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

describe('fleetcap sessions: application metadata', () => {
  it('--json gives a metadata object per session and counts problems in the summary', async () => {
    const out = collector();
    assert.equal(await runSessions([capture()], { json: true, metadata: true }, out, collector()), EXIT_ALL_READ);
    const [http, binary, summary] = out.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.equal(http.packets, 35, 'more packets than the 24 the metadata reads');
    assert.deepEqual(http.metadata, {
      service: 'http',
      http: { requests: 1, responses: 1, method: 'GET', uri: '/x', version: '1.1', host: 'a.example', status: 204 },
      problems: [],
      needsMorePackets: [],
    });
    assert.deepEqual(binary.metadata, { problems: ['http.unrecognised_payload'], needsMorePackets: [] });
    assert.deepEqual(summary.metadataProblems, { 'http.unrecognised_payload': 1 });
  });

  it('is on by default on the command line, shows a service column, and --no-metadata turns it off', () => {
    const bin = fileURLToPath(new URL('../../bin/fleetcap.mjs', import.meta.url));
    const file = capture();
    const table = spawnSync(process.execPath, [bin, 'sessions', file], { encoding: 'utf8' });
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /duration\s+service/);
    assert.match(table.stdout, /10\.2\.2\.2:8008\s+35\s+.*\s+http\s*$/m);
    const json = spawnSync(process.execPath, [bin, 'sessions', '--json', file], { encoding: 'utf8' });
    assert.equal(JSON.parse(json.stdout.split('\n')[0]!).metadata.service, 'http');
    const off = spawnSync(process.execPath, [bin, 'sessions', '--json', '--no-metadata', file], { encoding: 'utf8' });
    assert.equal(JSON.parse(off.stdout.split('\n')[0]!).metadata, undefined);
    assert.equal(JSON.parse(off.stdout.trim().split('\n').at(-1)!).metadataProblems, undefined);
  });
});
