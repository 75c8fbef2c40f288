// Notifications the ecosystem's way: a real Prometheus (Debian's) scrapes a detector and evaluates the project's
// rules (stack/monitoring/alerts.yml), a real Alertmanager (Debian's prometheus-alertmanager) routes what fires to a
// webhook, and this test is the webhook: a horizontal scan's verdict events reach it as a FleetcapDetection alert.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { syntheticSession } from '@fleetcap/lib/detectors/synthetic';
import { detectorDeadQueueName, encodeVerdictEvent, verdictExchangeName } from '@fleetcap/lib/detectors/verdict-event';
import amqp from 'amqplib';
import type mysql from 'mysql2/promise';
import { removePipelineNamespace } from '../helpers/namespace.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { assertStackUp, connections, mysqlAs, repoRoot, uniqueId } from '../helpers/stack.ts';

const prefix = uniqueId('alrt').replace(/[^A-Za-z0-9]/g, '');
const run = Math.floor(Math.random() * 250) + 1;
const scanner = `198.19.${run}.1`;
const dir = mkdtempSync(join(tmpdir(), 'fleetcap-alerting-'));
const children: ChildProcess[] = [];
const received: Array<{ alerts: Array<{ status: string; labels: Record<string, string> }> }> = [];
let hook: Server;
let detector: RunningApp;
let admin: mysql.Connection;
let promUrl = '';
let amUrl = '';

async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Starts a server binary and waits for its /-/ready. */
async function startServer(binary: string, args: string[], url: string): Promise<void> {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let log = '';
  child.stdout?.on('data', (d) => (log = (log + d).slice(-4000)));
  child.stderr?.on('data', (d) => (log = (log + d).slice(-4000)));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${binary} exited with ${child.exitCode}:\n${log}`);
    try {
      if ((await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) })).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${binary} was not ready within 30 s:\n${log}`);
    await sleep(200);
  }
}

before(async () => {
  assertStackUp();
  for (const binary of ['prometheus', 'prometheus-alertmanager']) {
    if (spawnSync('sh', ['-c', `command -v ${binary}`]).status !== 0) {
      throw new Error(`${binary} is missing: apt-get install prometheus prometheus-alertmanager (Debian)`);
    }
  }
  admin = await mysqlAs('admin', { database: connections.mysql.database });
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
  const hookPort = (hook.address() as { port: number }).port;

  detector = await startApp('detector', {
    FLEETCAP_REDIS_PREFIX: prefix,
    FLEETCAP_QUEUE_PREFIX: prefix,
    FLEETCAP_DETECTOR_PORT: '0',
    FLEETCAP_DETECTOR_BATCH_MS: '20',
  });

  // The shipped routing, with timings short enough for a test and this test as the webhook.
  const amPort = await freePort();
  writeFileSync(
    join(dir, 'alertmanager.yml'),
    [
      'route:',
      '  receiver: webhook',
      '  group_by: [alertname, detector]',
      '  group_wait: 1s',
      '  group_interval: 1s',
      'receivers:',
      '  - name: webhook',
      '    webhook_configs:',
      `      - url: http://127.0.0.1:${hookPort}/alerts`,
    ].join('\n'),
  );
  await startServer(
    'prometheus-alertmanager',
    [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'am')}`,
      `--web.listen-address=127.0.0.1:${amPort}`,
      '--cluster.listen-address=',
    ],
    `http://127.0.0.1:${amPort}`,
  );
  amUrl = `http://127.0.0.1:${amPort}`;

  const promPort = await freePort();
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      `rule_files: [${JSON.stringify(join(repoRoot, 'stack/monitoring/alerts.yml'))}]`,
      'alerting:',
      '  alertmanagers:',
      `    - static_configs: [{ targets: ["127.0.0.1:${amPort}"] }]`,
      'scrape_configs:',
      '  - job_name: detector',
      `    static_configs: [{ targets: ["127.0.0.1:${detector.port}"] }]`,
    ].join('\n'),
  );
  await startServer(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ],
    `http://127.0.0.1:${promPort}`,
  );
  promUrl = `http://127.0.0.1:${promPort}`;
});

after(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  }
  await detector?.stop();
  hook?.close();
  await admin?.query('DELETE FROM detection WHERE source_addr = ?', [scanner]);
  await admin?.end();
  const conn = await amqp.connect(connections.amqpUrl);
  const ch = await conn.createChannel();
  await ch.deleteQueue(`${prefix}.detector`).catch(() => {});
  await ch.deleteQueue(detectorDeadQueueName(prefix)).catch(() => {});
  await ch.deleteExchange(verdictExchangeName(prefix)).catch(() => {});
  await conn.close();
  await removePipelineNamespace(prefix);
  rmSync(dir, { recursive: true, force: true });
});

test('a horizontal scan reaches the webhook as a FleetcapDetection alert', async () => {
  // Prometheus must have seen the counter at 0 (its first scrape comes some seconds after it starts), so that the
  // incident is an increase.
  const seenAtZero = Date.now() + 30_000;
  for (;;) {
    const q = `${promUrl}/api/v1/query?query=${encodeURIComponent('fleetcap_detector_detections_total{detector="horizontal_scan"}')}`;
    const body = (await (await fetch(q)).json()) as { data: { result: Array<{ value: [number, string] }> } };
    if (body.data.result[0]?.value[1] === '0') break;
    assert.ok(Date.now() < seenAtZero, `Prometheus did not scrape the detector within 30 s: ${JSON.stringify(body)}`);
    await sleep(250);
  }
  const conn = await amqp.connect(connections.amqpUrl);
  const channel = await conn.createConfirmChannel();
  const t0 = Date.now() / 1000;
  for (let i = 0; i < 8; i++) {
    const s = syntheticSession('rejected', {
      src: scanner,
      dst: `198.19.${run}.${100 + i}`,
      dport: 23,
      communityId: `1:alrt${run}p${i}=`,
      atSec: t0 + i,
    });
    channel.publish(verdictExchangeName(prefix), '', encodeVerdictEvent(s), { persistent: true });
  }
  await channel.waitForConfirms();
  await conn.close();
  const deadline = Date.now() + 60_000;
  let alert: { status: string; labels: Record<string, string> } | undefined;
  while (!alert && Date.now() < deadline) {
    alert = received
      .flatMap((r) => r.alerts)
      .find((a) => a.labels.alertname === 'FleetcapDetection' && a.labels.detector === 'horizontal_scan');
    await sleep(250);
  }
  if (!alert) {
    const text = async (url: string) => (await fetch(url)).text();
    const seen = await text(`${promUrl}/api/v1/query?query=fleetcap_detector_detections_total`);
    assert.fail(
      `no FleetcapDetection alert reached the webhook; received: ${JSON.stringify(received)}\n` +
        `prometheus alerts: ${await text(`${promUrl}/api/v1/alerts`)}\nrules: ${await text(`${promUrl}/api/v1/rules`)}\n` +
        `detections: ${seen}\nalertmanager: ${await text(`${amUrl}/api/v2/alerts`)}\n` +
        `targets: ${await text(`${promUrl}/api/v1/targets`)}`,
    );
  }
  assert.equal(alert.status, 'firing');
  assert.equal(alert.labels.severity, 'warning');
});
