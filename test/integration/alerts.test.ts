// Alerts through the real pipeline (splitcap → Redis → RabbitMQ → session-worker → forecast → MariaDB): forecast
// serves a card with an alertPolicy, every verdict row carries the alert and unknown that policy gives its label and
// score, the views and the worker's metrics count alerts; the packets of every alert are kept with its row and
// `fleetcap pcap` writes them as a capture tshark reads, packet for packet (time, length, bytes) the ones uploaded;
// a Community ID seen by two agents is ambiguous until --agent or --all; writing a batch twice stores nothing twice;
// the worker's retention runs the partition maintenance (sql/016) and keeps what is within retention.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { TCP_ACK, TCP_PSH, TCP_RST, TCP_SYN } from '@fleetcap/lib/packet/decode';
import { readCaptureBuffer } from '@fleetcap/lib/pcap/reader';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { sessionKeyOf } from '@fleetcap/lib/session/key';
import type { LoadedSession } from '@fleetcap/lib/session-store/reader';
import { storeVerdictsWithAlertPackets } from '@fleetcap/session-worker/alert-packets';
import mysql from 'mysql2/promise';
import { removePipelineNamespace } from '../helpers/namespace.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { accounts, assertStackUp, connections, mysqlAs, repoRoot, uniqueId } from '../helpers/stack.ts';
import { postBatch } from '../helpers/upload.ts';

const prefix = uniqueId('al').replace(/[^A-Za-z0-9]/g, '');
const agent = uniqueId('alagent').slice(0, 60);
const agent2 = uniqueId('alagent2').slice(0, 60);
const token = 'alerts-test-token-123';
const DELAY_MS = 1000;
const work = mkdtempSync(join(tmpdir(), 'fleetcap-alerts-'));

// Forecast serves the test's own model, not the one model/ ships: a hand-written decision list over five flow
// features (model/make_fixtures.py), so that which session alerts is known here whatever model is trained next.
const modelPath = join(repoRoot, 'model/fixtures/alert-rules.onnx');
const card = JSON.parse(readFileSync(join(repoRoot, 'model/fixtures/alert-rules-card.json'), 'utf8')) as {
  classes: string[];
};
const attacks = card.classes.filter((c) => c !== 'benign');
/**
 * The test's alert policy: every attack class alerts from 0.3 except synflood, which never does (a threshold above
 * 1), and a session whose top probability is under 0.3 is unknown.
 */
const policy = {
  version: 1,
  benignClass: 'benign',
  thresholds: Object.fromEntries(attacks.map((c) => [c, c === 'synflood' ? 1.01 : 0.3])),
  unknown: { rule: 'topProbabilityBelow', minTopProbability: 0.3 },
};
const expectedUnknown = (score: number) => score < policy.unknown.minTopProbability;
const expectedAlert = (label: string, score: number) =>
  !expectedUnknown(score) && label !== 'benign' && score >= (policy.thresholds[label] ?? Number.POSITIVE_INFINITY);

let splitcap: RunningApp;
let forecast: RunningApp;
let worker: RunningApp;
let workerEnv: Record<string, string>;
let db: mysql.Connection;

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

interface Frame {
  tsUs: number;
  frame: Buffer;
}

/** A capture of hand-made sessions: their frames (per session key) and the pcap of them all in time order. */
class Capture {
  readonly frames = new Map<string, Frame[]>();
  private readonly all: Frame[] = [];
  private t: number;

  constructor(
    private readonly net: number,
    startUs = Date.now() * 1000,
  ) {
    this.t = startUs;
  }

  packet(host: number, sport: number, dport: number, fromClient: boolean, flags: number, payload: number, dt: number) {
    this.t += dt;
    const client = { address: `10.${this.net}.0.${host}`, port: sport };
    const server = { address: '192.0.2.30', port: dport };
    const [src, dst] = fromClient ? [client, server] : [server, client];
    const frame = buildPacket({
      proto: 'tcp',
      src: src.address,
      sport: src.port,
      dst: dst.address,
      dport: dst.port,
      tcpFlags: flags,
      payload: Buffer.alloc(payload, 0x41 + (this.all.length % 26)),
    });
    const key = sessionKeyOf('tcp', client.address, client.port, server.address, server.port);
    const f = { tsUs: this.t, frame };
    this.frames.set(key, [...(this.frames.get(key) ?? []), f]);
    this.all.push(f);
  }

  pcap(): Buffer {
    const w = new PcapWriter({ linktype: 1, nanosecond: false });
    for (const f of [...this.all].sort((a, b) => a.tsUs - b.tsUs))
      w.write({ tsSec: Math.floor(f.tsUs / 1e6), tsNsec: (f.tsUs % 1e6) * 1000, data: f.frame });
    return w.toBuffer();
  }
}

/**
 * What the rules model (model/make_fixtures.py) and the test's policy make of each client host's sessions: SYNs
 * retransmitted with no answer are a portscan (0.95); a connection the server resets is a synflood (0.95, which the
 * policy never alerts); an established connection with many small client packets and no server payload is
 * slowloris (0.9); one with nothing said is slowloris at 0.28, under the unknown floor; an exchange of data is benign.
 */
const EXPECTED: Record<number, { label: string; alert: boolean; unknown: boolean }> = {
  1: { label: 'portscan', alert: true, unknown: false },
  2: { label: 'slowloris', alert: true, unknown: false },
  3: { label: 'benign', alert: false, unknown: false },
  5: { label: 'synflood', alert: false, unknown: false },
  6: { label: 'slowloris', alert: false, unknown: true },
};
const hostOf = (sessionKey: string) => Number(sessionKey.split('/')[1]!.split('.')[3]);

/**
 * Sessions of several shapes: SYN retransmissions, a slow sender of 27 packets (24 are stored), connection
 * attempts answered by RST, a SYN answered once, an exchange of data.
 */
function mixedCapture(net: number): Capture {
  const c = new Capture(net);
  for (let i = 0; i < 6; i++) c.packet(1, 40001, 80, true, TCP_SYN, 0, 1000);
  c.packet(2, 40002, 80, true, TCP_SYN, 0, 100);
  c.packet(2, 40002, 80, false, TCP_SYN | TCP_ACK, 0, 100);
  c.packet(2, 40002, 80, true, TCP_ACK, 0, 100);
  for (let i = 0; i < 12; i++) {
    c.packet(2, 40002, 80, true, TCP_ACK | TCP_PSH, 5, 300_000);
    c.packet(2, 40002, 80, false, TCP_ACK, 0, 200);
  }
  for (let p = 1; p <= 3; p++) {
    c.packet(5, 40005, 1000 + p, true, TCP_SYN, 0, 50);
    c.packet(5, 40005, 1000 + p, false, TCP_RST | TCP_ACK, 0, 50);
  }
  c.packet(6, 40006, 443, true, TCP_SYN, 0, 100);
  c.packet(6, 40006, 443, false, TCP_SYN | TCP_ACK, 0, 100);
  c.packet(3, 40003, 22, true, TCP_SYN, 0, 100);
  c.packet(3, 40003, 22, false, TCP_SYN | TCP_ACK, 0, 100);
  c.packet(3, 40003, 22, true, TCP_ACK, 0, 100);
  for (let i = 0; i < 8; i++) {
    c.packet(3, 40003, 22, false, TCP_ACK | TCP_PSH, 40, 2000);
    c.packet(3, 40003, 22, true, TCP_ACK | TCP_PSH, 60, 2000);
  }
  return c;
}

async function upload(pcap: Buffer, batchId: string, as = agent): Promise<void> {
  let res: Response;
  try {
    res = await postBatch(splitcap.port, { agent: as, token }, batchId, pcap);
  } catch {
    // A kept-alive socket splitcap closed while the test was busy elsewhere: the same batch again (same id, a no-op
    // if it was stored), as an agent retries.
    res = await postBatch(splitcap.port, { agent: as, token }, batchId, pcap);
  }
  assert.equal(res.status, 202, await res.text());
}

interface Row {
  id: number;
  agent_id: string;
  session_key: string;
  community_id: string;
  label: string;
  score: number;
  alert: number;
  unknown: number;
  packets: number;
}

async function waitForRows(keys: string[], agents: string[], withinMs = DELAY_MS + 20000): Promise<Row[]> {
  const deadline = Date.now() + withinMs;
  let rows: Row[] = [];
  while (Date.now() < deadline) {
    const [r] = await db.query(
      'SELECT id, agent_id, session_key, community_id, label, score, alert, unknown, packets FROM session_verdict WHERE agent_id IN (?) AND session_key IN (?)',
      [agents, keys],
    );
    rows = r as Row[];
    if (rows.length >= keys.length * agents.length) return rows;
    await sleep(200);
  }
  return rows;
}

const fleetcapEnv = { ...process.env, FLEETCAP_LOG_LEVEL: 'warn' };
function fleetcapPcap(...args: string[]) {
  const r = spawnSync('node', [`${repoRoot}/cli/bin/fleetcap.mjs`, 'pcap', ...args], {
    cwd: work,
    encoding: 'utf8',
    env: fleetcapEnv,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** tshark's view of a capture: one "time_epoch len" line per packet, and the frames' bytes. */
function tsharkPackets(file: string): { lines: string[]; bytes: string[] } {
  const text = execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'frame.len'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = text.split('\n').filter((l) => l.length > 0);
  const bytes = [...readCaptureBuffer(readFileSync(file))].map((p) => p.data.toString('hex'));
  return { lines, bytes };
}

/** The same view of packets as uploaded, as tshark prints the time (9 decimals) and length. */
function expectedPackets(frames: Frame[]): { lines: string[]; bytes: string[] } {
  return {
    lines: frames.map(
      (f) => `${Math.floor(f.tsUs / 1e6)}.${String(f.tsUs % 1e6).padStart(6, '0')}000\t${f.frame.length}`,
    ),
    bytes: frames.map((f) => f.frame.toString('hex')),
  };
}

const workerMetrics = async () => (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text();
const counterSum = (text: string, name: string) =>
  [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'gm'))].reduce((s, m) => s + Number(m[1]), 0);

before(async () => {
  assertStackUp();
  db = await mysqlAs('admin');
  const cardPath = join(work, 'model-card.json');
  writeFileSync(cardPath, JSON.stringify({ ...card, alertPolicy: policy }));
  const forecastPort = await freePort();
  [splitcap, forecast] = await Promise.all([
    startApp('splitcap', {
      FLEETCAP_SPLITCAP_PORT: '0',
      FLEETCAP_SPLITCAP_TOKENS: `${agent}=${token},${agent2}=${token}`,
      FLEETCAP_REDIS_PREFIX: prefix,
      FLEETCAP_QUEUE_PREFIX: prefix,
      FLEETCAP_SESSION_DELAY_MS: String(DELAY_MS),
    }),
    startApp(
      'forecast',
      {
        FLEETCAP_FORECAST_PORT: String(forecastPort),
        FLEETCAP_MODEL_PATH: modelPath,
        FLEETCAP_MODEL_CARD_PATH: cardPath,
      },
      30000,
    ),
  ]);
  workerEnv = {
    FLEETCAP_FORECAST_URL: `http://127.0.0.1:${forecastPort}`,
    FLEETCAP_REDIS_PREFIX: prefix,
    FLEETCAP_QUEUE_PREFIX: prefix,
    FLEETCAP_WORKER_PORT: '0',
    FLEETCAP_WORKER_BATCH_MS: '10',
    FLEETCAP_RETENTION_INTERVAL_MS: '1000',
  };
  worker = await startApp('session-worker', workerEnv);
});

after(async () => {
  await worker?.stop();
  await splitcap?.stop();
  await forecast?.stop();
  await db?.query('DELETE FROM session_verdict WHERE agent_id IN (?)', [[agent, agent2]]);
  await db?.end();
  await removePipelineNamespace(prefix, DELAY_MS);
  rmSync(work, { recursive: true, force: true });
});

describe('alerts', () => {
  let capture: Capture;
  let rows: Row[];

  test("every verdict row carries the card's alert policy on its label and score; views and metrics count alerts", async () => {
    capture = mixedCapture(201);
    await upload(capture.pcap(), 'mixed-1');
    const keys = [...capture.frames.keys()];
    rows = await waitForRows(keys, [agent]);
    assert.equal(rows.length, keys.length, 'a row per session');
    for (const r of rows) {
      assert.equal(r.unknown, expectedUnknown(r.score) ? 1 : 0, `${r.session_key} ${r.label} ${r.score}: unknown`);
      assert.equal(r.alert, expectedAlert(r.label, r.score) ? 1 : 0, `${r.session_key} ${r.label} ${r.score}: alert`);
      const e = EXPECTED[hostOf(r.session_key)]!;
      assert.deepEqual(
        [r.label, r.alert, r.unknown],
        [e.label, e.alert ? 1 : 0, e.unknown ? 1 : 0],
        `${r.session_key} (score ${r.score}): the rules model's verdict`,
      );
    }
    const alerts = rows.filter((r) => r.alert);
    assert.deepEqual(
      alerts.map((r) => hostOf(r.session_key)).sort(),
      [1, 2],
      'the SYN retransmissions and the slow sender alert',
    );

    const [viewRows] = await db.query('SELECT id, packets_kept FROM report_alerts WHERE agent_id = ?', [agent]);
    assert.deepEqual(
      (viewRows as Array<{ id: number }>).map((r) => r.id).sort(),
      alerts.map((r) => r.id).sort(),
      'report_alerts lists exactly the alert rows',
    );
    const [malicious] = await db.query('SELECT COUNT(*) AS n FROM report_malicious_sessions WHERE agent_id = ?', [
      agent,
    ]);
    assert.equal(Number((malicious as Array<{ n: number }>)[0]!.n), alerts.length);
    const [perAgent] = await db.query(
      'SELECT SUM(sessions) AS sessions, SUM(alerts) AS alerts FROM report_verdicts_per_agent WHERE agent_id = ?',
      [agent],
    );
    assert.deepEqual(
      (perAgent as Array<Record<string, unknown>>).map((r) => [Number(r.sessions), Number(r.alerts)]),
      [[rows.length, alerts.length]],
    );
    const [perHour] = await db.query(
      `SELECT SUM(alerts) AS alerts FROM report_alerts_per_hour
       WHERE hour >= DATE_FORMAT(UTC_TIMESTAMP() - INTERVAL 2 HOUR, '%Y-%m-%d %H:00:00')`,
    );
    assert.ok(Number((perHour as Array<{ alerts: number }>)[0]!.alerts) >= alerts.length, 'alerts per hour count them');

    const metrics = await workerMetrics();
    assert.equal(counterSum(metrics, 'fleetcap_worker_alerts_total'), alerts.length, metrics);
    assert.equal(counterSum(metrics, 'fleetcap_worker_unknown_total'), rows.filter((r) => r.unknown).length);
    for (const label of new Set(alerts.map((r) => r.label)))
      assert.match(metrics, new RegExp(`fleetcap_worker_alerts_total\\{label="${label}"[^}]*\\} [1-9]`));
  });

  test('the packets of every alert are kept; fleetcap pcap writes exactly them (tshark reads the same times, lengths, bytes)', async () => {
    const alerts = rows.filter((r) => r.alert);
    const [kept] = await db.query(
      'SELECT verdict_id, COUNT(*) AS n FROM alert_packet WHERE verdict_id IN (?) GROUP BY verdict_id',
      [rows.map((r) => r.id)],
    );
    const keptBy = new Map((kept as Array<{ verdict_id: number; n: number }>).map((k) => [k.verdict_id, Number(k.n)]));
    for (const r of rows) {
      const uploaded = capture.frames.get(r.session_key)!;
      // splitcap stores the first 24 packets of a session; the rest are counted in the row, not stored.
      assert.equal(
        keptBy.get(r.id) ?? 0,
        r.alert ? Math.min(24, uploaded.length) : 0,
        `${r.session_key}: packets kept`,
      );
    }
    assert.ok(
      alerts.some((r) => r.packets > 24),
      `an alert with more packets than are stored (the slow sender: 27) among ${alerts.map((r) => `${r.label}/${r.packets}`)}`,
    );
    for (const r of alerts) {
      const file = join(work, `alert-${r.id}.pcap`);
      const out = fleetcapPcap(String(r.id), '-o', file);
      assert.equal(out.status, 0, out.stderr);
      const n = Math.min(24, r.packets);
      assert.match(
        out.stderr,
        new RegExp(`wrote ${n} packets of session ${agent}/${r.session_key} \\(verdict ${r.id}`),
      );
      const uploaded = [...capture.frames.get(r.session_key)!].sort((a, b) => a.tsUs - b.tsUs).slice(0, 24);
      assert.deepEqual(tsharkPackets(file), expectedPackets(uploaded), `${r.session_key}: the pcap holds its packets`);
    }
    // By agent/session key, to stdout.
    const first = alerts[0]!;
    const byKey = fleetcapPcap(`${agent}/${first.session_key}`, '-o', '-');
    assert.equal(byKey.status, 0, byKey.stderr);
    assert.match(byKey.stderr, /to stdout/);
    const benign = rows.find((r) => !r.alert)!;
    const refused = fleetcapPcap(String(benign.id));
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /not an alert \(label [a-z]+\): only the packets of alerts are kept/);
    assert.match(fleetcapPcap('999999999999').stderr, /verdict 999999999999: no such verdict/);
  });

  test('a Community ID seen by two agents: fleetcap pcap asks which, --agent picks one, --all writes both', async () => {
    // The same conversation from the other agent (the same capture: the same Community IDs).
    await upload(capture.pcap(), 'mixed-1', agent2);
    const keys = [...capture.frames.keys()];
    const both = await waitForRows(keys, [agent, agent2]);
    const alert = rows.find(
      (r) => r.alert && both.some((o) => o.agent_id === agent2 && o.session_key === r.session_key && o.alert),
    )!;
    assert.ok(alert, 'a session both agents alerted');
    const other = both.find((o) => o.agent_id === agent2 && o.session_key === alert.session_key)!;
    assert.equal(other.community_id, alert.community_id);

    const ambiguous = fleetcapPcap(alert.community_id);
    assert.equal(ambiguous.status, 2, ambiguous.stderr);
    assert.match(ambiguous.stderr, /matches 2 alerted sessions \(2 agents: /);
    assert.match(ambiguous.stderr, /pick one by its id \(fleetcap pcap <id>\) or with --agent <id>, or write them all/);
    assert.ok(ambiguous.stderr.includes(agent) && ambiguous.stderr.includes(agent2), 'both agents listed');
    assert.ok(ambiguous.stderr.includes(String(alert.id)) && ambiguous.stderr.includes(String(other.id)), 'ids listed');

    const uploaded = [...capture.frames.get(alert.session_key)!].sort((a, b) => a.tsUs - b.tsUs).slice(0, 24);
    const one = join(work, 'agent2.pcap');
    const picked = fleetcapPcap(alert.community_id, '--agent', agent2, '-o', one);
    assert.equal(picked.status, 0, picked.stderr);
    assert.match(picked.stderr, new RegExp(`verdict ${other.id}`));
    assert.deepEqual(tsharkPackets(one), expectedPackets(uploaded));

    const all = join(work, 'all.pcap');
    const written = fleetcapPcap(alert.community_id, '--all', '-o', all);
    assert.equal(written.status, 0, written.stderr);
    assert.match(written.stderr, new RegExp(`wrote ${uploaded.length * 2} packets of 2 sessions`));
    const twice = uploaded.flatMap((f) => [f, f]);
    assert.deepEqual(tsharkPackets(all), expectedPackets(twice), 'both sessions, in time order');
  });

  test('a batch written twice (a redelivery) stores its verdict rows and alert packets once', async () => {
    const w = await mysql.createPool({
      ...connections.mysql,
      user: accounts.worker.user,
      password: accounts.worker.password,
      connectionLimit: 2,
    });
    const key = 'tcp/10.202.0.1/40000/192.0.2.30/80';
    const t0 = Date.now() * 1000;
    const session = {
      message: { key, agent, communityId: '1:x', reason: 'delay', occurrence: t0, enqueuedAt: 1 },
      proto: 'tcp',
      client: { address: '10.202.0.1', port: 40000 },
      server: { address: '192.0.2.30', port: 80 },
      agent,
      communityId: '1:x',
      occurrence: t0,
      firstUs: t0,
      lastUs: t0 + 10,
      packetsSeen: 3,
      bytes: 180,
      packets: [0, 1, 2].map((i) => ({
        seq: i + 1,
        direction: 0,
        tsUs: t0 + i * 5,
        wireLength: 60,
        payloadLength: 0,
        tcpFlags: TCP_SYN,
        linktype: 1,
        frame: Buffer.alloc(60, i),
      })),
    } as unknown as LoadedSession;
    const row = {
      session,
      label: 'portscan',
      score: 0.9,
      alert: true,
      unknown: false,
      modelVersion: 't',
      reason: 'delay' as const,
    };
    try {
      const first = await storeVerdictsWithAlertPackets(w, [row]);
      const again = await storeVerdictsWithAlertPackets(w, [row]);
      assert.deepEqual([first.inserted, first.packetsInserted], [1, 3]);
      assert.deepEqual([again.inserted, again.packetsInserted, again.alertSessions], [0, 0, 1]);
      const [n] = await db.query(
        'SELECT COUNT(*) AS n FROM alert_packet p JOIN session_verdict v ON v.id = p.verdict_id WHERE v.agent_id = ? AND v.session_key = ?',
        [agent, key],
      );
      assert.equal(Number((n as Array<{ n: number }>)[0]!.n), 3);
    } finally {
      await w.end();
    }
  });

  test('kill -9 of the worker at random moments, 8 trials: every alert keeps its packets exactly once', async () => {
    const captures: Capture[] = [];
    for (let trial = 0; trial < 8; trial++) {
      // Sessions of SYN retransmissions (alerted as a portscan by the rules model), of 2-7 packets.
      const c = new Capture(210 + trial);
      for (let host = 1; host <= 6; host++)
        for (let i = 0; i < host + 1; i++) c.packet(host, 41000 + host, 80, true, TCP_SYN, 0, 700);
      captures.push(c);
      await upload(c.pcap(), `crash-${trial}`);
      await sleep(Math.floor(Math.random() * 1500));
      worker.child.kill('SIGKILL');
      worker = await startApp('session-worker', workerEnv);
    }
    const keys = captures.flatMap((c) => [...c.frames.keys()]);
    const crashed = await waitForRows(keys, [agent], DELAY_MS + 60000);
    assert.equal(crashed.length, keys.length, 'a row per session, once');
    assert.deepEqual(
      crashed.filter((r) => !r.alert || r.label !== 'portscan').map((r) => `${r.session_key} ${r.label} ${r.score}`),
      [],
      'every session alerted as a portscan',
    );
    const [kept] = await db.query(
      'SELECT verdict_id, COUNT(*) AS n FROM alert_packet WHERE verdict_id IN (?) GROUP BY verdict_id',
      [crashed.map((r) => r.id)],
    );
    const keptBy = new Map((kept as Array<{ verdict_id: number; n: number }>).map((k) => [k.verdict_id, Number(k.n)]));
    for (const r of crashed) {
      const expected = r.alert
        ? captures.find((c) => c.frames.has(r.session_key))!.frames.get(r.session_key)!.length
        : 0;
      assert.equal(keptBy.get(r.id) ?? 0, expected, `${r.session_key} (${r.label}, alert ${r.alert}): packets kept`);
    }
  });

  test("the worker's retention runs the partition maintenance: every table has its days ahead, the fresh alerts stay", async () => {
    // The drop of expired days is tested on a database of its own (verdict-partitions.test.ts): here, the worker's
    // loop runs it on the pipeline's database, as itself, and reports it.
    const deadline = Date.now() + 15000;
    let metrics = '';
    while (Date.now() < deadline) {
      metrics = await workerMetrics();
      if (/fleetcap_worker_retention_runs_total\{outcome="done"[^}]*\} [1-9]/.test(metrics)) break;
      await sleep(250);
    }
    assert.match(metrics, /fleetcap_worker_retention_runs_total\{outcome="done"[^}]*\} [1-9]/);
    assert.match(metrics, /fleetcap_worker_partitions\{table="session_verdict"[^}]*\} ([4-9]|\d\d)/);
    const [status] = await db.query(
      'SELECT table_name, newest_day >= UTC_DATE() + INTERVAL 3 DAY AS ahead FROM partition_maintenance ORDER BY table_name',
    );
    assert.deepEqual(
      (status as Array<{ table_name: string; ahead: number }>).map((r) => [r.table_name, Number(r.ahead)]),
      [
        ['alert_packet', 1],
        ['detection', 1],
        ['packet_drop', 1],
        ['session_verdict', 1],
      ],
    );
    // The packets of this test's fresh alerts are kept, and the verdict rows stay.
    const [fresh] = await db.query('SELECT COUNT(*) AS n FROM alert_packet WHERE verdict_id IN (?)', [
      rows.filter((r) => r.alert).map((r) => r.id),
    ]);
    assert.ok(Number((fresh as Array<{ n: number }>)[0]!.n) > 0, 'fresh alert packets kept');
  });
});
