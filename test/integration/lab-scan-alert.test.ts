// A real nmap scan from the traffic lab's attacker namespace reaches a webhook as an alert, through the whole
// pipeline: the lab's mirror port -> sniffer -> splitcap -> session-worker -> detector -> Prometheus (the shipped
// rules, stack/monitoring/alerts.yml) -> Alertmanager -> this test's webhook. `fleetcap run --scenarios portscan`
// drives the lab (lab/run.sh portscan, nmap against one or two lab servers); `stack/alerting.sh` runs Debian's
// Prometheus and Alertmanager with the shipped timings (15 s scrapes, 10 s group wait). Needs root (namespaces),
// nmap and the lab's tools (lab/setup.sh installs them), and the local stack's ports 9090, 9094 and the apps' own.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type mysql from 'mysql2/promise';
import { assertStackUp, connections, mysqlAs, repoRoot } from '../helpers/stack.ts';

const seed = 700 + Math.floor(Math.random() * 200);
const runsDir = join(process.env.FLEETCAP_STACK_HOME ?? join(repoRoot, '.stack'), 'lab-runs');
const received: Array<{ alerts: Array<{ status: string; labels: Record<string, string> }> }> = [];
let hook: Server;
let admin: mysql.Connection;

function alerting(action: 'up' | 'down', env: Record<string, string> = {}): void {
  const res = spawnSync('bash', [join(repoRoot, 'stack', 'alerting.sh'), action], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  assert.equal(res.status, 0, `stack/alerting.sh ${action}: ${res.stdout}${res.stderr}`);
}

// What Prometheus and Alertmanager saw, for a failure's message: the counter's samples, the scrape targets' health,
// the rule's state and what Alertmanager holds.
async function alertingState(): Promise<string> {
  const prometheus = `http://127.0.0.1:${process.env.FLEETCAP_PROMETHEUS_PORT ?? 9090}`;
  const alertmanager = `http://127.0.0.1:${process.env.FLEETCAP_ALERTMANAGER_PORT ?? 9094}`;
  const read = async (url: string): Promise<string> => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      return `${url} -> ${res.status} ${(await res.text()).slice(0, 4000)}`;
    } catch (e) {
      return `${url} -> ${(e as Error).message}`;
    }
  };
  const query = encodeURIComponent('fleetcap_detector_detections_total[10m]');
  return (
    await Promise.all([
      read(`${prometheus}/api/v1/query?query=${query}`),
      read(`${prometheus}/api/v1/targets?state=active`),
      read(`${prometheus}/api/v1/alerts`),
      read(`${alertmanager}/api/v2/alerts`),
    ])
  ).join('\n');
}

before(async () => {
  assertStackUp();
  assert.equal(process.getuid?.(), 0, 'the traffic lab needs root (network namespaces, raw sockets)');
  admin = await mysqlAs('admin', { database: connections.mysql.database, timezone: 'Z' });
  // The lab's attacker addresses come from a small pool: a scan of an earlier run from the same address within the
  // incident's lifetime would continue that incident (no new one, so no FleetcapDetection), as it should for an
  // operator. The detectors' windows start empty here, so that this scan opens an incident of its own.
  const redis = new Redis(connections.redisUrl);
  try {
    const prefix = process.env.FLEETCAP_REDIS_PREFIX ?? 'fc';
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:det:*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push(JSON.parse(body));
      res.end('ok');
    });
  });
  hook.listen(0, '127.0.0.1');
  await once(hook, 'listening');
  const url = `http://127.0.0.1:${(hook.address() as { port: number }).port}/alerts`;
  // Prometheus and Alertmanager of the local stack, routed to this test (a running pair is restarted with it).
  alerting('down');
  // Fresh: an alert group an earlier run had notified stays quiet in Alertmanager's log for 4 h (CI's lab-scan test
  // once waited its whole budget for that reason).
  alerting('up', { FLEETCAP_ALERT_WEBHOOK_URL: url, FLEETCAP_ALERTING_FRESH: '1' });
});

after(async () => {
  alerting('down');
  hook?.close();
  await admin?.end();
});

// The runner gives the whole file 600 s (scripts/run-tests.mjs): the wait ends well inside it, so that the run is
// stopped by this test and not left behind (with its apps on their ports) by a runner that kills the file.
test('a lab nmap scan reaches the webhook as a FleetcapDetection alert of a scan detector', {
  timeout: 540_000,
}, async () => {
  const startedAt = new Date(Date.now() - 5000);
  const child = spawn(
    'node',
    [join(repoRoot, 'cli/bin/fleetcap.mjs'), 'run', '--scenarios', 'portscan', '--seed', String(seed), '--keep'],
    // Every nmap kind the lab draws, UDP included (4-11 ports: the vertical scan's udp_threshold of 3 unanswered
    // ports opens it; a 4-port scan whose 2 open ports both answer, about 0.7% of UDP scans, stays under it).
    // FCL_PORTSCAN_KINDS from the caller's environment narrows the kinds (FCL_PORTSCAN_KINDS=udp: the UDP case).
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: process.env },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = once(child, 'exit');
  // A runner that times the file out sends SIGTERM: the run is told to stop first (it tears the lab down on SIGTERM).
  const stopRun = (): void => {
    if (child.exitCode === null) child.kill('SIGTERM');
  };
  process.once('exit', stopRun);
  process.once('SIGTERM', () => {
    stopRun();
    process.exit(143);
  });
  try {
    // The run itself (stack check, apps, lab, nmap, verdicts: about a minute on a quiet machine, several on a busy
    // one) ends its report with "fleetcap keeps running"; from there the alert has one scrape, one rule evaluation
    // and Alertmanager's group wait to travel (40 s at most with the shipped timings).
    const runDeadline = Date.now() + 360_000;
    while (!out.includes('fleetcap keeps running') && Date.now() < runDeadline && child.exitCode === null) {
      await sleep(500);
    }
    assert.ok(
      out.includes('fleetcap keeps running'),
      `the run did not get through its report (exit ${child.exitCode}):\n${out}`,
    );
    const deadline = Date.now() + 120_000;
    let alert: { status: string; labels: Record<string, string> } | undefined;
    while (!alert && Date.now() < deadline && child.exitCode === null) {
      alert = received
        .flatMap((r) => r.alerts)
        .find((a) => a.labels.alertname === 'FleetcapDetection' && a.status === 'firing');
      await sleep(500);
    }
    assert.ok(
      alert,
      `no FleetcapDetection alert reached the webhook (run exit ${child.exitCode}):\n${await alertingState()}\n${out}`,
    );
    assert.match(alert.labels.detector ?? '', /^(vertical|horizontal)_scan$/, JSON.stringify(alert));
    // The incident behind it: the lab's attacker scanned, and only scans of it were detected.
    const labels = JSON.parse(readFileSync(join(runsDir, `portscan-${seed}`, 'labels.json'), 'utf8')) as {
      attacker_addrs: string[];
    };
    const [rows] = await admin.query(
      'SELECT detector, source_addr FROM detection WHERE source_addr IN (?) AND last_seen >= ?',
      [labels.attacker_addrs, startedAt],
    );
    const detections = rows as Array<{ detector: string; source_addr: string }>;
    assert.ok(detections.length > 0, `a detection row of the attacker ${labels.attacker_addrs.join(',')}`);
    for (const d of detections) assert.match(d.detector, /^(vertical|horizontal)_scan$/, JSON.stringify(d));
  } finally {
    // The run stops its apps and tears the lab down on SIGTERM.
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  }
  assert.doesNotMatch(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout, /fcl-/, 'the lab is gone');
});
