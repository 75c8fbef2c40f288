// Detection-backed alerts on the real stack: Zeek's ftp/bruteforce.pcap (30 sessions, one failed FTP login each,
// which a per-session model cannot tell from a user mistyping a password) uploaded as an agent through splitcap,
// classified by the session-worker, detected by the detector stage: all 30 verdict rows end as alerts of class
// bruteforce with the detection's id, whatever the model said of each; the model's label and score stay. The same
// capture uploaded by a second agent while the incident is open is alerted at verdict time, so its packets are kept
// in alert_packet like any alert's. report_alerts says why each is an alert.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { detectOffline } from '@fleetcap/cli/commands/detections';
import { alertConfigKey } from '@fleetcap/lib/detectors/detection-alerts';
import { detectorDeadQueueName, detectorQueueName, verdictExchangeName } from '@fleetcap/lib/detectors/verdict-event';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import type mysql from 'mysql2/promise';
import { removePipelineNamespace } from '../helpers/namespace.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { assertStackUp, connections, mysqlAs, repoRoot, uniqueId } from '../helpers/stack.ts';
import { postBatch } from '../helpers/upload.ts';

const pcaps = process.env.FLEETCAP_SHARED_PCAPS ?? join(repoRoot, '..', 'shared', 'pcaps');
const BRUTEFORCE = join(pcaps, 'zeek', 'ftp', 'bruteforce.pcap');
const prefix = uniqueId('dal').replace(/[^A-Za-z0-9]/g, '');
const run = prefix.slice(-8);
const first = `dal-first-${run}`;
const second = `dal-second-${run}`;
const third = `dal-third-${run}`;
const token = 'detection-alerts-test-token';
const apps: RunningApp[] = [];
let admin: mysql.Connection;
let incidentId: string;

interface Row {
  id: number;
  community_id: string;
  label: string;
  score: number;
  alert: number;
  alert_reason: string | null;
  alert_label: string | null;
  detection_id: string | null;
  packets_kept: number;
}

async function rowsOf(agent: string): Promise<Row[]> {
  const [rows] = await admin.query(
    `SELECT v.id, v.community_id, v.label, v.score, v.alert, v.alert_reason, v.alert_label, v.detection_id,
            (SELECT COUNT(*) FROM alert_packet p WHERE p.verdict_id = v.id) AS packets_kept
       FROM session_verdict v WHERE v.agent_id = ? ORDER BY v.first_packet_at`,
    [agent],
  );
  return (rows as Row[]).map((r) => ({ ...r, packets_kept: Number(r.packets_kept) }));
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`);
    await sleep(200);
  }
}

async function metric(app: RunningApp, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) total += Number(line.split(' ').pop());
  return total;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function cleanRows(): Promise<void> {
  await admin.query('DELETE FROM session_verdict WHERE agent_id IN (?)', [[first, second, third]]);
  if (incidentId) await admin.query('DELETE FROM detection WHERE incident_id = ?', [incidentId]);
}

before(async () => {
  assertStackUp();
  admin = await mysqlAs('admin', { database: connections.mysql.database });
  // The incident's id is the same online and offline (detector|subject|first µs): one earlier run's row would be
  // updated instead of written.
  const offline = await detectOffline([BRUTEFORCE], { classify: true });
  incidentId = offline.detections[0]!.id;
  await cleanRows();
  const forecastPort = await freePort();
  const common = { FLEETCAP_REDIS_PREFIX: prefix, FLEETCAP_QUEUE_PREFIX: prefix };
  apps.push(
    await startApp(
      'splitcap',
      {
        ...common,
        FLEETCAP_SPLITCAP_PORT: '0',
        FLEETCAP_SPLITCAP_TOKENS: `${first}=${token},${second}=${token},${third}=${token}`,
        FLEETCAP_SESSION_DELAY_MS: '500',
      },
      30_000,
    ),
    await startApp('forecast', { FLEETCAP_FORECAST_PORT: String(forecastPort) }, 30_000),
  );
  apps.push(
    await startApp('session-worker', {
      ...common,
      FLEETCAP_FORECAST_URL: `http://127.0.0.1:${forecastPort}`,
      FLEETCAP_WORKER_PORT: '0',
      FLEETCAP_WORKER_BATCH_MS: '10',
    }),
    await startApp('detector', {
      ...common,
      FLEETCAP_DETECTOR_PORT: '0',
      FLEETCAP_DETECTOR_BATCH_MS: '20',
    }),
  );
});

after(async () => {
  await Promise.all(apps.map((a) => a.stop()));
  await cleanRows().catch(() => {});
  const conn = await amqp.connect(connections.amqpUrl);
  const ch = await conn.createChannel();
  await ch.deleteQueue(detectorQueueName(prefix)).catch(() => {});
  await ch.deleteQueue(detectorDeadQueueName(prefix)).catch(() => {});
  await ch.deleteExchange(verdictExchangeName(prefix)).catch(() => {});
  await conn.close();
  await admin?.end();
  await removePipelineNamespace(prefix);
});

describe('detection-backed alerts', () => {
  test('ftp/bruteforce.pcap uploaded by an agent: all 30 verdict rows are alerts of class bruteforce with the detection id', async () => {
    const [splitcap, , worker, detector] = apps;
    const res = await postBatch(splitcap!.port, { agent: first, token }, `${prefix}-1`, readFileSync(BRUTEFORCE));
    assert.equal(res.status, 202, await res.text());
    const rows = await waitFor('30 rows alerted as bruteforce', async () => {
      const r = await rowsOf(first);
      return r.length === 30 && r.every((x) => x.detection_id !== null) ? r : undefined;
    });
    for (const r of rows) {
      assert.equal(r.alert, 1);
      assert.equal(r.alert_label, 'bruteforce');
      assert.equal(r.detection_id, incidentId, 'the incident id the offline detectors give');
      assert.ok(r.alert_reason === 'detection' || r.alert_reason === 'model+detection', String(r.alert_reason));
      assert.ok(r.score > 0 && r.score <= 1 && r.label !== '', "the model's own label and score stay");
    }
    const [detections] = await admin.query('SELECT detector, sessions, agents FROM detection WHERE incident_id = ?', [
      incidentId,
    ]);
    assert.equal((detections as Array<{ detector: string }>)[0]?.detector, 'brute_force');
    const markedByDetector = await metric(detector!, 'fleetcap_detector_alert_rows_total{');
    const markedByWorker = await metric(worker!, 'fleetcap_worker_detection_alerts_total{');
    assert.equal(markedByDetector + markedByWorker, 30, `detector ${markedByDetector}, worker ${markedByWorker}`);
    console.log(
      `first agent: ${markedByDetector} rows marked by the detector after their verdict, ${markedByWorker} at verdict time; ` +
        `packets kept for ${rows.filter((r) => r.packets_kept > 0).length} (the model's alerts and those at verdict time)`,
    );

    const report = await mysqlAs('report', { database: connections.mysql.database });
    try {
      const [listed] = await report.query(
        'SELECT alert_reason, alert_label, detection_id, detector FROM report_alerts WHERE agent_id = ?',
        [first],
      );
      const l = listed as Array<{ alert_label: string; detection_id: string; detector: string }>;
      assert.equal(l.length, 30);
      assert.ok(l.every((x) => x.alert_label === 'bruteforce' && x.detector === 'brute_force'));
      const [perHour] = await report.query(
        "SELECT SUM(alerts) AS alerts, SUM(by_detection) AS by_detection FROM report_alerts_per_hour WHERE label = 'bruteforce' AND hour = '2014-01-14 17:00:00'",
      );
      const h = (perHour as Array<{ alerts: string; by_detection: string }>)[0]!;
      assert.ok(Number(h.by_detection) >= 30, `report_alerts_per_hour counts them: ${JSON.stringify(h)}`);
    } finally {
      await report.end();
    }
  });

  test('a second agent uploading it while the incident is open gets alerts at verdict time, packets kept', async () => {
    const [splitcap, , worker] = apps;
    const before = await metric(worker!, 'fleetcap_worker_detection_alerts_total{');
    const res = await postBatch(splitcap!.port, { agent: second, token }, `${prefix}-2`, readFileSync(BRUTEFORCE));
    assert.equal(res.status, 202, await res.text());
    const rows = await waitFor('the second agent’s 30 rows', async () => {
      const r = await rowsOf(second);
      return r.length === 30 ? r : undefined;
    });
    for (const r of rows) {
      assert.equal(r.detection_id, incidentId);
      assert.equal(r.alert_label, 'bruteforce');
      assert.ok(r.packets_kept > 0, `row ${r.id} has no packets kept`);
    }
    assert.equal((await metric(worker!, 'fleetcap_worker_detection_alerts_total{')) - before, 30);
    const [agents] = await admin.query('SELECT agents FROM detection WHERE incident_id = ?', [incidentId]);
    const list = (agents as Array<{ agents: string[] | string }>)[0]!.agents;
    const parsed = typeof list === 'string' ? (JSON.parse(list) as string[]) : list;
    await waitFor('the second agent in the incident', async () => {
      const [again] = await admin.query('SELECT agents FROM detection WHERE incident_id = ?', [incidentId]);
      const a = (again as Array<{ agents: string[] | string }>)[0]!.agents;
      const names = typeof a === 'string' ? (JSON.parse(a) as string[]) : a;
      return names.includes(second) ? true : undefined;
    });
    assert.ok(parsed.includes(first));
  });

  test('the detector account may mark a row as an alert and change nothing else of it', async () => {
    const [rows] = await admin.query('SELECT id FROM session_verdict WHERE agent_id = ? LIMIT 1', [first]);
    const id = (rows as Array<{ id: number }>)[0]!.id;
    const detector = await mysqlAs('detector', { database: connections.mysql.database });
    try {
      await detector.query("UPDATE session_verdict SET alert_label = 'bruteforce' WHERE id = ?", [id]);
      for (const change of ["label = 'benign'", 'score = 0', "agent_id = 'x'"]) {
        await assert.rejects(detector.query(`UPDATE session_verdict SET ${change} WHERE id = ?`, [id]), {
          code: 'ER_COLUMNACCESS_DENIED_ERROR',
        });
      }
      await assert.rejects(detector.query('DELETE FROM session_verdict WHERE id = ?', [id]), {
        code: 'ER_TABLEACCESS_DENIED_ERROR',
      });
      await assert.rejects(detector.query('SELECT label FROM session_verdict WHERE id = ?', [id]), {
        code: 'ER_COLUMNACCESS_DENIED_ERROR',
      });
    } finally {
      await detector.end();
    }
  });

  test('detector state the worker cannot read is counted and ignored; the detector still marks the rows', async () => {
    const [splitcap, , worker] = apps;
    const redis = new Redis(connections.redisUrl);
    try {
      const unreadable = await metric(worker!, 'fleetcap_worker_detection_state_unreadable_total');
      const atVerdict = await metric(worker!, 'fleetcap_worker_detection_alerts_total{');
      await redis.set(alertConfigKey(prefix), 'written by hand', 'EX', 600);
      const res = await postBatch(splitcap!.port, { agent: third, token }, `${prefix}-3`, readFileSync(BRUTEFORCE));
      assert.equal(res.status, 202, await res.text());
      const rows = await waitFor('the third agent’s rows marked by the detector', async () => {
        const r = await rowsOf(third);
        return r.length === 30 && r.every((x) => x.detection_id === incidentId) ? r : undefined;
      });
      assert.ok(rows.every((r) => r.alert_label === 'bruteforce'));
      assert.ok((await metric(worker!, 'fleetcap_worker_detection_state_unreadable_total')) > unreadable);
      // The first batch read the unreadable state; a later batch may read the detector's rewrite of it.
      assert.ok((await metric(worker!, 'fleetcap_worker_detection_alerts_total{')) - atVerdict < 30);
    } finally {
      redis.disconnect();
    }
  });
});
