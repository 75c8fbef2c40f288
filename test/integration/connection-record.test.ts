// The record follows the connection to its end, through the real splitcap, Redis, RabbitMQ, forecast,
// session-worker and MariaDB: Zeek's SSH trace (../shared/pcaps/zeek/ssh/ssh.pcap) uploaded in six batches, each
// after the verdicts of what came before, gives one row per connection whose record (conn_state, history,
// packets and IP bytes per direction, duration) equals `fleetcap sessions --json` on the whole trace and Zeek's own
// conn.log of it (scripts.base.protocols.ssh.basic); and a UDP session that goes quiet is completed by the idle
// timeout.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AppMetadata } from '@fleetcap/lib/app-metadata/types';
import { readCaptureBuffer } from '@fleetcap/lib/pcap/reader';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { SOURCE_EXEC_ARGV } from '@fleetcap/lib/runtime/entry';
import { sessionKeys } from '@fleetcap/lib/session-store/layout';
import { METADATA_COLUMN_NAMES, metadataColumnsOf } from '@fleetcap/session-worker/verdict-metadata';
import { Redis } from 'ioredis';
import type mysql from 'mysql2/promise';
import { parseConnLog } from '../conformance/zeek-conn.ts';
import { removePipelineNamespace } from '../helpers/namespace.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { assertStackUp, connections, mysqlAs, repoRoot, uniqueId } from '../helpers/stack.ts';
import { syntheticCapture } from '../helpers/synthetic-sessions.ts';
import { postBatch } from '../helpers/upload.ts';

const pcaps = process.env.FLEETCAP_SHARED_PCAPS ?? join(repoRoot, '..', 'shared', 'pcaps');
const trace = join(pcaps, 'zeek', 'ssh', 'ssh.pcap');
const zeekLog = join(pcaps, 'zeek-expected', 'conn', 'scripts.base.protocols.ssh.basic.conn.log');

const prefix = uniqueId('rec').replace(/[^A-Za-z0-9]/g, '');
const agent = uniqueId('rec-a').slice(0, 60);
const token = 'record-token-0123';
const DELAY_MS = 1000;
const SWEEP_MS = 1000;
const UDP_IDLE_S = 3;
const BATCHES = 6;

let redis: Redis;
let db: mysql.Connection;
let splitcap: RunningApp;
let forecast: RunningApp;
let worker: RunningApp;
let dir: string;

interface Row {
  session_key: string;
  client_addr: string;
  client_port: number;
  server_addr: string;
  server_port: number;
  protocol: string;
  packets: number;
  conn_state: string | null;
  history: string | null;
  originator: 'client' | 'server' | null;
  orig_pkts: number | null;
  orig_ip_bytes: number | null;
  resp_pkts: number | null;
  resp_ip_bytes: number | null;
  duration: number | null;
  completed_at: Date | null;
  service: string | null;
  ssh_client: string | null;
  ssh_server: string | null;
  hassh: string | null;
  hassh_server: string | null;
  metadata_problems: string | null;
}

async function rows(): Promise<Row[]> {
  const [r] = await db.query('SELECT * FROM report_sessions WHERE agent_id = ? ORDER BY first_packet_at', [agent]);
  return r as Row[];
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, withinMs: number): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; the worker said:\n${worker.output().slice(-3000)}`);
    await sleep(250);
  }
}

async function upload(batchId: string, pcap: Buffer): Promise<Record<string, unknown>> {
  const res = await postBatch(splitcap.port, { agent, token }, batchId, pcap);
  const text = await res.text();
  assert.equal(res.status, 202, text);
  return JSON.parse(text) as Record<string, unknown>;
}

function sessionsJson(file: string): Array<Record<string, unknown>> {
  const out = execFileSync(
    process.execPath,
    [...SOURCE_EXEC_ARGV, join(repoRoot, 'cli/src/main.ts'), 'sessions', '--json', file],
    {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.type === 'session');
}

/** The trace's packets cut into `n` pcaps by packet index. */
function splitTrace(bytes: Buffer, n: number): Buffer[] {
  const packets = [...readCaptureBuffer(bytes)].map((p) => ({
    linktype: p.linktype,
    tsSec: p.tsSec,
    tsNsec: p.tsNsec,
    origLen: p.origLen,
    data: Buffer.from(p.data),
  }));
  const per = Math.ceil(packets.length / n);
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const slice = packets.slice(i * per, (i + 1) * per);
    const w = new PcapWriter({ linktype: slice[0]!.linktype });
    for (const p of slice) w.write(p);
    parts.push(w.toBuffer());
  }
  return parts;
}

before(async () => {
  assertStackUp();
  dir = mkdtempSync(join(tmpdir(), 'fc-record-'));
  redis = new Redis(connections.redisUrl);
  db = await mysqlAs('admin');
  [splitcap, forecast] = await Promise.all([
    startApp('splitcap', {
      FLEETCAP_SPLITCAP_PORT: '0',
      FLEETCAP_SPLITCAP_TOKENS: `${agent}=${token}`,
      FLEETCAP_REDIS_PREFIX: prefix,
      FLEETCAP_QUEUE_PREFIX: prefix,
      FLEETCAP_SESSION_DELAY_MS: String(DELAY_MS),
    }),
    startApp('forecast', { FLEETCAP_FORECAST_PORT: '0' }, 30000),
  ]);
  worker = await startApp('session-worker', {
    FLEETCAP_FORECAST_URL: `http://127.0.0.1:${forecast.port}`,
    FLEETCAP_REDIS_PREFIX: prefix,
    FLEETCAP_QUEUE_PREFIX: prefix,
    FLEETCAP_WORKER_PORT: '0',
    FLEETCAP_WORKER_BATCH_MS: '10',
    FLEETCAP_RECORD_SWEEP_MS: String(SWEEP_MS),
    FLEETCAP_UDP_INACTIVITY_TIMEOUT_S: String(UDP_IDLE_S),
  });
});

after(async () => {
  await worker?.stop();
  await splitcap?.stop();
  await forecast?.stop();
  await db?.query('DELETE FROM session_verdict WHERE agent_id = ?', [agent]);
  await db?.end();
  redis?.disconnect();
  await removePipelineNamespace(prefix, DELAY_MS, SWEEP_MS);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the record follows the connection', () => {
  test("Zeek's SSH trace in six batches across the verdicts: one completed row per connection, equal to `fleetcap sessions --json` and to Zeek's conn.log", {
    skip: !existsSync(trace) && 'shared pcaps absent',
  }, async () => {
    const whole = readFileSync(trace);
    const parts = splitTrace(whole, BATCHES);
    const first = join(dir, 'part1.pcap');
    writeFileSync(first, parts[0]!);
    const firstSessions = sessionsJson(first).length;

    await upload('part-1', parts[0]!);
    // The verdicts of the first batch's sessions are stored before the rest of their packets arrive.
    const early = await waitFor(
      'the first verdicts',
      async () => {
        const r = await rows();
        return r.length >= firstSessions ? r : undefined;
      },
      20_000,
    );
    assert.equal(early.length, firstSessions);
    // Each later batch comes once the verdicts of what came before are stored.
    const answers: Array<Record<string, unknown>> = [];
    for (const [i, part] of parts.slice(1).entries()) {
      await sleep(DELAY_MS + 1000);
      answers.push(await upload(`part-${i + 2}`, part));
    }
    assert.ok(
      answers.some((a) => (a.skipped as { sessionDone: number }).sessionDone > 0),
      'later batches hold packets of sessions whose verdict is stored',
    );

    const expected = sessionsJson(trace);
    const done = await waitFor(
      'every row completed',
      async () => {
        const r = await rows();
        return r.length >= expected.length && r.every((x) => x.completed_at !== null) ? r : undefined;
      },
      40_000,
    );
    assert.equal(
      done.length,
      expected.length,
      'one row per session of `fleetcap sessions`: no occurrence started mid-stream',
    );

    const byTuple = new Map(
      done.map((r) => [`${r.protocol}|${r.client_addr}|${r.client_port}|${r.server_addr}|${r.server_port}`, r]),
    );
    const zeek = parseConnLog(readFileSync(zeekLog, 'utf8'));
    let zeekCompared = 0;
    let metadataCompared = 0;
    for (const s of expected) {
      const r = byTuple.get(`${s.proto}|${s.src}|${s.sport}|${s.dst}|${s.dport}`);
      assert.ok(r, `a row for ${s.key}`);
      assert.equal(s.zeekConnections, 1, `${s.key}: one Zeek connection`);
      const ours = {
        connState: r.conn_state,
        history: r.history,
        originator: r.originator === 'client' ? 'src' : 'dst',
        origPkts: Number(r.orig_pkts),
        origIpBytes: Number(r.orig_ip_bytes),
        respPkts: Number(r.resp_pkts),
        respIpBytes: Number(r.resp_ip_bytes),
      };
      const cli = {
        connState: s.connState,
        history: s.history,
        originator: s.originator,
        origPkts: s.origPkts,
        origIpBytes: s.origIpBytes,
        respPkts: s.respPkts,
        respIpBytes: s.respIpBytes,
      };
      assert.deepEqual(ours, cli, `${s.key}: the row's record is the one of \`fleetcap sessions --json\``);
      assert.ok(Math.abs(Number(r.duration) - Number(s.duration)) < 1e-6, `${s.key}: duration`);
      // The metadata of the verdict, from the stored packets, where the verdict saw the packets `fleetcap sessions`
      // reads (the first 24); a session cut by the first batch was classified from fewer.
      if (r.packets >= Math.min(24, Number(s.packets))) {
        const m = s.metadata as { service?: string; ssh?: Record<string, string> };
        assert.deepEqual(
          [r.service, r.ssh_client, r.ssh_server, r.hassh, r.hassh_server],
          [
            m.service ?? null,
            m.ssh?.client ?? null,
            m.ssh?.server ?? null,
            m.ssh?.hassh ?? null,
            m.ssh?.hasshServer ?? null,
          ],
          `${s.key}: the verdict's metadata is the one of \`fleetcap sessions --json\``,
        );
        metadataCompared++;
      }
      const [oh, op, rh, rp] =
        ours.originator === 'src' ? [s.src, s.sport, s.dst, s.dport] : [s.dst, s.dport, s.src, s.sport];
      const z = zeek.find(
        (c) => c.origH === oh && c.origP === op && c.respH === rh && c.respP === rp && c.proto === s.proto,
      );
      if (!z) continue;
      zeekCompared++;
      assert.deepEqual(
        [ours.connState, ours.history, ours.origPkts, ours.origIpBytes, ours.respPkts, ours.respIpBytes],
        [z.connState, z.history, z.origPkts, z.origIpBytes, z.respPkts, z.respIpBytes],
        `${s.key}: Zeek's ${z.line}`,
      );
    }
    const longOnes = done.filter((r) => Number(r.orig_pkts) + Number(r.resp_pkts) > 24).length;
    // A row's `packets` is what its verdict saw; the record counted the packets that came after it too.
    const grownAfterVerdict = done.filter((r) => Number(r.orig_pkts) + Number(r.resp_pkts) > r.packets).length;
    console.log(
      `connection record: ${done.length} rows, ${zeekCompared} equal to Zeek's conn.log, ${longOnes} longer than the 24 stored packets, ${grownAfterVerdict} counted packets that came after their verdict, ${metadataCompared} with the metadata of \`fleetcap sessions\` (service, SSH software, HASSH)`,
    );
    assert.ok(zeekCompared >= done.length - 2, `most rows are Zeek's connections (${zeekCompared}/${done.length})`);
    assert.ok(longOnes > 10, 'connections longer than the stored packets are counted whole');
    assert.ok(metadataCompared > 10, 'metadata compared for most sessions');
    assert.ok(grownAfterVerdict > 0, 'some connections went on after their verdict and their rows count it');
    const keys = await redis.keys(`${prefix}:s:*:c`);
    assert.deepEqual(keys, [], 'completed records are removed from Redis');
  });

  test('a UDP session that goes quiet is completed by the idle timeout', async () => {
    const { pcap, sessions } = syntheticCapture([{ proto: 'udp', packets: 4 }], 4242);
    const s = sessions[0]!;
    await upload('udp-idle', pcap);
    const k = sessionKeys({ agent, key: s.key }, prefix);
    const verdict = await waitFor(
      'the UDP verdict',
      async () => {
        const r = (await rows()).find((x) => x.session_key === s.key);
        return r ?? undefined;
      },
      15_000,
    );
    assert.equal(verdict.completed_at, null, 'open right after the verdict: the idle timeout has not passed');
    assert.equal(await redis.exists(k.record), 1, 'its record stays in Redis while the connection may go on');
    const recordBytes = Number(await redis.call('MEMORY', 'USAGE', k.record));
    console.log(`connection record: ${recordBytes} bytes of Redis (MEMORY USAGE) for an open UDP session`);
    assert.ok(recordBytes < 1024, 'the record is small');
    const started = Date.now();
    const completed = await waitFor(
      'the idle completion',
      async () => {
        const r = (await rows()).find((x) => x.session_key === s.key);
        return r?.completed_at ? r : undefined;
      },
      (UDP_IDLE_S + 10) * 1000,
    );
    assert.deepEqual(
      [completed.conn_state, completed.history, Number(completed.orig_pkts), Number(completed.resp_pkts)],
      ['SF', 'Dd', 2, 2],
    );
    assert.ok(Date.now() - started < (UDP_IDLE_S + 5) * 1000);
    assert.equal(await redis.exists(k.record), 0, 'the record is freed at the completion');
    assert.equal(await redis.exists(k.done), 1, 'the done marker keeps stragglers from opening a new session');
  });

  test('application metadata with the verdict equals `fleetcap sessions --json` for HTTP, TLS and DNS traces', async () => {
    const traces = ['http/bro.org.pcap', 'http/get-gzip.pcap', 'tls/chrome-34-google.pcap', 'dns/dns-binds.pcap'].map(
      (t) => join(pcaps, 'zeek', t),
    );
    if (!traces.every(existsSync)) return;
    const before = (await rows()).length;
    const expected = traces.flatMap((t) => sessionsJson(t));
    for (const [i, t] of traces.entries()) await upload(`metadata-${i}`, readFileSync(t));
    const all = await waitFor(
      'the verdicts of the traces',
      async () => {
        const r = await rows();
        return r.length >= before + expected.length ? r : undefined;
      },
      20_000,
    );
    const byTuple = new Map(
      all.map((r) => [`${r.protocol}|${r.client_addr}|${r.client_port}|${r.server_addr}|${r.server_port}`, r]),
    );
    const services = new Set<string>();
    let compared = 0;
    for (const s of expected) {
      const r = byTuple.get(`${s.proto}|${s.src}|${s.sport}|${s.dst}|${s.dport}`) as unknown as Record<string, unknown>;
      assert.ok(r, `a row for ${s.key}`);
      const want = metadataColumnsOf(s.metadata as AppMetadata);
      const got: Record<string, unknown> = {};
      const exp: Record<string, unknown> = {};
      for (const c of METADATA_COLUMN_NAMES) {
        if (c === 'metadata_truncated' || c === 'metadata_problems') continue;
        got[c] = r[c] ?? null;
        exp[c] = want[c] ?? null;
      }
      assert.deepEqual(got, exp, `${s.key}: the row's metadata`);
      if (typeof r.service === 'string') services.add(r.service);
      compared++;
    }
    console.log(
      `metadata with the verdict: ${compared} sessions equal to \`fleetcap sessions --json\`, services ${[...services].sort().join(' ')}`,
    );
    assert.deepEqual([...services].sort(), ['dns', 'http', 'ssl']);
  });
});
