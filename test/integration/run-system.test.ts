// The README's run command, non-interactively: the whole system on local defaults drives the traffic lab's six
// scenarios past its agent, and the verdicts it stores label the attack scenarios' sessions as attacks and the
// benign ones as benign, within the quality the model card measured on held-out runs.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { localApps, stackCaFile } from '@fleetcap/cli/local-apps';
import { EXCLUDE_CLASS, parseRunLabels, type RunLabels, SessionLabeler } from '@fleetcap/lib/features/labels';
import { startPrometheus } from '../helpers/prometheus.ts';
import { assertStackUp, mysqlAs, repoRoot } from '../helpers/stack.ts';

const SCENARIOS = ['benign', 'portscan', 'synflood', 'bruteforce', 'slowloris', 'sqli'];
const SEED = 101;
// `fleetcap run` writes its lab runs under the stack's home, which FLEETCAP_STACK_HOME may move.
const runsDir = join(process.env.FLEETCAP_STACK_HOME ?? join(repoRoot, '.stack'), 'lab-runs');

interface Card {
  classes: string[];
  benignClass: string;
  heldOut: { confusionMatrix: { labels: string[]; rows: number[][] } };
}

/**
 * What the card's held-out confusion matrix expects of class c: the share labelled exactly c, and (for an attack)
 * the share labelled as some attack. A run's share may fall short of it by three binomial standard errors at the
 * run's session count plus 0.05 for run-to-run variation of the tools (the card calls its per-class numbers coarse).
 */
function expectations(card: Card, cls: string) {
  const { labels, rows } = card.heldOut.confusionMatrix;
  const row = rows[labels.indexOf(cls)]!;
  const total = row.reduce((a, b) => a + b, 0);
  const exact = row[labels.indexOf(cls)]! / total;
  const asAttack = 1 - row[labels.indexOf(card.benignClass)]! / total;
  const bound = (rate: number, n: number) => rate - 3 * Math.sqrt((rate * (1 - rate)) / n) - 0.05;
  return { exact, asAttack, bound };
}

/**
 * `fleetcap run ARGS` in its own process group, as a terminal's foreground job (a Ctrl-C reaches every process
 * in it), with its output collected and a wait for a text in it.
 */
function startRun(args: string[]) {
  const child = spawn('node', [`${repoRoot}/cli/bin/fleetcap.mjs`, 'run', ...args], {
    cwd: repoRoot,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run = {
    child,
    out: '',
    exited: once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>,
    async waitFor(text: string, timeoutMs = 240_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!run.out.includes(text) && child.exitCode === null && Date.now() < deadline) await sleep(200);
      assert.ok(run.out.includes(text), `the run printed "${text}"\n${run.out}`);
    },
    interrupt: () => process.kill(-child.pid!, 'SIGINT'),
  };
  child.stdout.on('data', (d) => (run.out += d));
  child.stderr.on('data', (d) => (run.out += d));
  return run;
}

test("bash scripts/run-system.sh drives the lab past the agent; verdicts match the lab's labels within the model card", {
  timeout: 900_000,
}, async () => {
  assertStackUp();
  const card = JSON.parse(readFileSync(join(repoRoot, 'model', 'model-card.json'), 'utf8')) as Card;
  const db = await mysqlAs('admin', { timezone: 'Z' });
  try {
    const [before] = await db.query('SELECT COALESCE(MAX(id), 0) AS id FROM session_verdict');
    const since = Number((before as Array<{ id: number }>)[0]!.id);
    const [now] = await db.query('SELECT NOW(6) AS now');
    const startedAt = (now as Array<{ now: Date }>)[0]!.now;
    const res = spawnSync('bash', [`${repoRoot}/scripts/run-system.sh`], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 840_000,
    });
    const out = `${res.stdout}${res.stderr}`;
    assert.equal(res.status, 0, out);
    for (const step of [
      'build the traffic lab',
      'register the agent: INSERT INTO sniffer_config',
      'config travels binlog',
      ...SCENARIOS.map((s, i) => `lab scenario ${i + 1}/6: ${s}`),
      'wait for the verdicts',
      'stop the apps',
      'tear the traffic lab down',
    ]) {
      assert.ok(out.includes(step), `the run shows the step "${step}"\n${out}`);
    }
    for (const title of [
      'Sessions and alerts per label',
      'Alerts by label and endpoints',
      'Top talkers',
      'Agents',
      'Lab scenarios',
    ]) {
      assert.ok(out.includes(title), `report section ${title}`);
    }
    assert.match(
      out,
      /local-agent\s*│\s*fcl-mon0\s*│\s*net 10\.77\.0\.0\/24/,
      'the agents table shows the applied config',
    );

    // The lab is gone again: no namespace, no mirror port.
    assert.doesNotMatch(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }), /fcl-/);
    assert.notEqual(spawnSync('ip', ['link', 'show', 'fcl-mon0']).status, 0, 'fcl-mon0 was removed');

    const [agent] = await db.query(
      "SELECT c.device, s.applied_revision, c.revision FROM agent_status s JOIN sniffer_config c USING (agent_id) WHERE agent_id = 'local-agent'",
    );
    const a = (agent as Array<{ device: string; applied_revision: number; revision: number }>)[0]!;
    assert.equal(a.device, 'fcl-mon0');
    assert.equal(a.applied_revision, a.revision, 'the agent applied the config inserted with SQL');

    const [verdictRows] = await db.query(
      "SELECT session_key, client_addr, server_addr, first_packet_at, label FROM session_verdict WHERE id > ? AND agent_id = 'local-agent'",
      [since],
    );
    const verdicts = verdictRows as Array<{
      session_key: string;
      client_addr: string;
      server_addr: string;
      first_packet_at: Date;
      label: string;
    }>;
    const byKey = new Map<string, typeof verdicts>();
    for (const v of verdicts) byKey.set(v.session_key, [...(byKey.get(v.session_key) ?? []), v]);

    const findings: string[] = [];
    const failures: string[] = [];
    const modelMisses: string[] = [];
    const tally = new Map<string, { n: number; exact: number; asAttack: number }>();
    for (const sc of SCENARIOS) {
      const dir = join(runsDir, `${sc}-${SEED}`);
      assert.ok(existsSync(join(dir, 'labels.json')), `the lab run wrote ${dir}/labels.json`);
      const labels: RunLabels = parseRunLabels(JSON.parse(readFileSync(join(dir, 'labels.json'), 'utf8')), dir);
      const labeler = new SessionLabeler(labels);
      // The lab's own capture of the same run, sessionized offline: every session in it must have its verdict.
      const lines = execFileSync(
        'node',
        [join(repoRoot, 'cli/bin/fleetcap.mjs'), 'sessions', '--json', join(dir, 'capture.pcap')],
        {
          encoding: 'utf8',
          maxBuffer: 256 << 20,
        },
      )
        .trim()
        .split('\n');
      let expected = 0;
      let missing = 0;
      for (const line of lines) {
        const s = JSON.parse(line) as { type: string; proto?: string; src?: string; dst?: string; key?: string };
        if (s.type !== 'session' || (s.proto !== 'tcp' && s.proto !== 'udp')) continue;
        const truth = labeler.labelOf(s.src!, s.dst!);
        if (truth === null || truth === EXCLUDE_CLASS) continue;
        expected++;
        const found = byKey.get(s.key!);
        if (!found) {
          missing++;
          continue;
        }
        const t = tally.get(`${sc}/${truth}`) ?? { n: 0, exact: 0, asAttack: 0 };
        const v = found[0]!;
        t.n++;
        if (v.label === truth) t.exact++;
        if (v.label !== card.benignClass) t.asAttack++;
        tally.set(`${sc}/${truth}`, t);
      }
      findings.push(`${sc}-${SEED}: ${expected} labelled sessions in the lab's capture, ${missing} without a verdict`);
      // The mirror, the sniffer and splitcap lose nothing: at most 1% (a session whose only packet fell on the
      // capture's last instant may miss the mirror's copy).
      if (missing > expected * 0.01)
        failures.push(`${sc}: ${missing} of ${expected} sessions of the lab's capture have no verdict`);
      if (sc !== 'benign' && (tally.get(`${sc}/${sc}`)?.n ?? 0) < 10)
        failures.push(`${sc}: fewer than 10 attack sessions reached a verdict`);
    }
    const benignTotal = { n: 0, exact: 0, asAttack: 0 };
    for (const [key, t] of tally) {
      const [sc, cls] = key.split('/') as [string, string];
      if (cls === card.benignClass) {
        benignTotal.n += t.n;
        benignTotal.exact += t.exact;
        continue;
      }
      const e = expectations(card, cls);
      const exact = t.exact / t.n;
      const asAttack = t.asAttack / t.n;
      findings.push(
        `${sc} ${cls}: ${t.n} sessions, as ${cls} ${exact.toFixed(3)} (card ${e.exact.toFixed(3)}, bound ${e.bound(e.exact, t.n).toFixed(3)}), as an attack ${asAttack.toFixed(3)} (card ${e.asAttack.toFixed(3)}, bound ${e.bound(e.asAttack, t.n).toFixed(3)})`,
      );
      // A class below what the card claims is the model's miss on this run, not the pipeline's: it is printed (one
      // seed's run of each scenario, whose variant and WAN link the seed draws, against the card's held-out runs:
      // model/EVALUATION.md), while what the pipeline promises (no session lost, the alerts' packets, the
      // detections) fails the test.
      if (exact < e.bound(e.exact, t.n))
        modelMisses.push(
          `${sc}: ${cls} sessions labelled ${cls}: ${exact.toFixed(3)} < ${e.bound(e.exact, t.n).toFixed(3)}`,
        );
      if (asAttack < e.bound(e.asAttack, t.n))
        modelMisses.push(
          `${sc}: ${cls} sessions labelled as an attack: ${asAttack.toFixed(3)} < ${e.bound(e.asAttack, t.n).toFixed(3)}`,
        );
    }
    const eb = expectations(card, card.benignClass);
    const benignShare = benignTotal.exact / benignTotal.n;
    findings.push(
      `benign (all six runs): ${benignTotal.n} sessions, as benign ${benignShare.toFixed(3)} (card ${eb.exact.toFixed(3)}, bound ${eb.bound(eb.exact, benignTotal.n).toFixed(3)})`,
    );
    if (benignTotal.n < 50) failures.push(`only ${benignTotal.n} benign sessions reached a verdict`);
    if (benignShare < eb.bound(eb.exact, benignTotal.n))
      modelMisses.push(`benign sessions labelled benign: ${benignShare.toFixed(3)}`);

    // The detector stage, fed by the worker's verdict events, finds each attack run's incident (nmap: a scan, hping3:
    // a SYN flood, hydra: a brute force) and nothing else in any run: issue 18's lab check, online.
    const [detectionRows] = await db.query(
      'SELECT detector, source_addr, target, first_seen FROM detection WHERE detected_at >= ? ORDER BY id',
      [startedAt],
    );
    const detections = detectionRows as Array<{
      detector: string;
      source_addr: string | null;
      target: string;
      first_seen: Date;
    }>;
    const expectedDetectors: Record<string, string[]> = {
      portscan: ['vertical_scan', 'horizontal_scan'],
      synflood: ['syn_flood'],
      bruteforce: ['brute_force'],
    };
    for (const sc of SCENARIOS) {
      const raw = JSON.parse(readFileSync(join(runsDir, `${sc}-${SEED}`, 'labels.json'), 'utf8')) as {
        start_epoch: number;
        end_epoch: number;
        attacker_addrs: string[];
        client_addrs: string[];
        server_addrs: string[];
      };
      const runAddrs = new Set([...raw.attacker_addrs, ...raw.client_addrs]);
      const inRun = detections.filter((d) => {
        const at = d.first_seen.getTime() / 1000;
        if (at < raw.start_epoch - 2 || at > raw.end_epoch + 2) return false;
        if (d.source_addr !== null) return runAddrs.has(d.source_addr);
        return raw.server_addrs.some((addr) => d.target.startsWith(`${addr}:`));
      });
      const seen = inRun.map((d) => `${d.detector} ${d.source_addr ?? '*'} -> ${d.target}`);
      findings.push(`${sc}-${SEED} detections: ${seen.length === 0 ? 'none' : seen.join(', ')}`);
      const expected = expectedDetectors[sc] ?? [];
      // A flood is one target's half-open count, whatever the model says; a scan or a brute force of the lab's
      // seed may stay under its detector's threshold (printed, not failed), but nothing of another kind may show.
      if (sc === 'synflood' && !inRun.some((d) => d.detector === 'syn_flood'))
        failures.push(`${sc}: no syn_flood detection`);
      if (expected.length > 0 && !inRun.some((d) => expected.includes(d.detector)))
        modelMisses.push(`${sc}: no ${expected.join(' or ')} detection`);
      const others = inRun.filter((d) => !expected.includes(d.detector));
      if (others.length > 0)
        failures.push(`${sc}: detections it should not have: ${others.map((d) => d.detector).join(', ')}`);
    }

    // The packets of an alert of the run come back from MariaDB as a pcap that tshark reads (issue 17).
    const [alertRows] = await db.query(
      "SELECT id, packets_kept FROM report_alerts WHERE id > ? AND agent_id = 'local-agent' AND packets_kept > 0 ORDER BY id LIMIT 1",
      [since],
    );
    const alerted = (alertRows as Array<{ id: number; packets_kept: number }>)[0];
    if (alerted === undefined) failures.push('no alert of the run kept its packets');
    else {
      const file = join(mkdtempSync(join(tmpdir(), 'fleetcap-run-pcap-')), 'alert.pcap');
      execFileSync('node', [join(repoRoot, 'cli/bin/fleetcap.mjs'), 'pcap', String(alerted.id), '-o', file], {
        encoding: 'utf8',
      });
      const frames = execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.len'], { encoding: 'utf8' })
        .trim()
        .split('\n');
      findings.push(
        `fleetcap pcap ${alerted.id}: ${frames.length} packets read back by tshark (${alerted.packets_kept} kept)`,
      );
      if (frames.length !== Number(alerted.packets_kept))
        failures.push(
          `fleetcap pcap ${alerted.id}: tshark reads ${frames.length} packets, ${alerted.packets_kept} were kept`,
        );
    }
    if (modelMisses.length > 0) findings.push(`below the card on this run: ${modelMisses.join('; ')}`);
    console.log(findings.join('\n'));
    assert.deepEqual(failures, [], `${findings.join('\n')}\n\n${out.slice(-6000)}`);
  } finally {
    await db.end();
  }
});

test('--traffic loopback --keep: HTTP requests on lo each get a verdict; fleetcap status sees every app healthy until Ctrl-C', {
  timeout: 300_000,
}, async () => {
  assertStackUp();
  const db = await mysqlAs('admin');
  const [before] = await db.query('SELECT COALESCE(MAX(id), 0) AS id FROM session_verdict');
  const since = Number((before as Array<{ id: number }>)[0]!.id);
  const run = startRun(['--traffic', 'loopback', '--requests', '25', '--keep']);
  try {
    await run.waitFor('fleetcap keeps running');
    const out = run.out;
    assert.ok(!out.includes('build the traffic lab'), 'loopback traffic needs no lab');
    // The report says where the console is, and the console answers there over HTTPS (its sign-in page).
    const consoleAt = /^Console: (https:\/\/127\.0\.0\.1:\d+\/) /m.exec(out)?.[1];
    assert.ok(consoleAt, out);
    const signIn = await httpsGetText(`${consoleAt}sign-in`, readFileSync(stackCaFile));
    assert.equal(signIn.status, 200);
    assert.match(signIn.text, /<title>Sign in · fleetcap console<\/title>/);
    const [rows] = await db.query(
      "SELECT COUNT(*) AS n FROM session_verdict WHERE id > ? AND agent_id = 'local-agent' AND server_port = 18081 AND client_addr = '127.0.0.1' AND protocol = 'tcp'",
      [since],
    );
    // 25 requests, one connection each (the demo server closes every connection).
    assert.ok(Number((rows as Array<{ n: number }>)[0]!.n) >= 25, out);

    const status = spawnSync('node', [`${repoRoot}/cli/bin/fleetcap.mjs`, 'status'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(status.status, 0, status.stdout + status.stderr);
    for (const app of [
      'forecast',
      'splitcap',
      'config-sync',
      'session-worker-1',
      'session-worker-2',
      'detector',
      'listener',
      'console',
    ]) {
      assert.match(
        status.stdout,
        new RegExp(`^\\s+${app}\\s+healthy\\s+https?://127\\.0\\.0\\.1:\\d+/healthz`, 'm'),
        status.stdout,
      );
    }

    // The Grafana dashboard's queries, run by a real Prometheus scraping these apps: each names series that exist.
    const jobs: Record<string, string[]> = {};
    for (const a of localApps()) {
      const job = a.app === 'session-worker' ? 'session-worker' : a.name;
      jobs[job] = [...(jobs[job] ?? []), `127.0.0.1:${a.port}`];
    }
    // splitcap and the console serve HTTPS with the stack's certificates.
    const prom = await startPrometheus(jobs, 1, { splitcap: stackCaFile, console: stackCaFile });
    try {
      await prom.waitForScrapes(localApps().length, 3);
      const dashboard = JSON.parse(
        readFileSync(join(repoRoot, 'stack/monitoring/grafana/dashboards/fleetcap.json'), 'utf8'),
      ) as {
        panels: Array<{ title: string; targets?: Array<{ expr?: string }> }>;
      };
      // The loopback fetches are benign: a counter of alerts has a series once a session alerted, so a run without
      // alerts leaves the alert panels empty (the alert counts are checked in alerts.test.ts, with a model of its
      // own). Which this run is, the verdict rows say.
      const [alertRows] = await db.query(
        "SELECT COUNT(*) AS n FROM session_verdict WHERE id > ? AND agent_id = 'local-agent' AND alert = 1",
        [since],
      );
      const alerted = Number((alertRows as Array<{ n: number }>)[0]!.n);
      let checked = 0;
      for (const panel of dashboard.panels) {
        for (const t of panel.targets ?? []) {
          // RabbitMQ's series come from its rabbitmq_prometheus plugin, which the compose stack enables and the local one does not.
          if (!t.expr || t.expr.includes('rabbitmq_')) continue;
          const expr = t.expr.replaceAll('$__rate_interval', '10s');
          const r = await prom.query(expr);
          assert.equal(r.status, 'success', `${panel.title}: ${expr}: ${r.error}`);
          if (alerted === 0 && expr.includes('fleetcap_worker_alerts_total')) {
            assert.equal(r.data?.result.length ?? 0, 0, `${panel.title}: ${expr}: series without any alert`);
            checked++;
            continue;
          }
          assert.ok(
            (r.data?.result.length ?? 0) > 0,
            `${panel.title}: ${expr} returns no series from the running apps`,
          );
          checked++;
        }
      }
      assert.ok(checked >= 6, `${checked} dashboard queries checked`);
      const up = await prom.query('sum by (job) (up)');
      assert.deepEqual(
        Object.fromEntries(up.data!.result.map((x) => [x.metric.job, x.value[1]])),
        Object.fromEntries(Object.entries(jobs).map(([job, targets]) => [job, String(targets.length)])),
      );
    } finally {
      await prom.stop();
    }
  } finally {
    if (run.child.exitCode === null) run.interrupt();
    const [code] = await run.exited;
    await db.end();
    assert.equal(code, 130, run.out);
  }
  const after = spawnSync('node', [`${repoRoot}/cli/bin/fleetcap.mjs`, 'status'], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.match(
    after.stdout,
    /^\s+splitcap\s+not running\s+\S+\s+nothing listens on port 8080 \(FLEETCAP_SPLITCAP_PORT\)/m,
    after.stdout,
  );
});

test('fleetcap run refuses a bad option before it starts anything', () => {
  for (const [args, message] of [
    [['--traffic', 'wifi'], /--traffic wifi: choose lab or loopback/],
    [['--scenarios', 'benign,ddos'], /unknown lab scenario "ddos": choose from benign, portscan/],
    [['--seed', '-3'], /--seed -3: must be a whole number/],
  ] as const) {
    const res = spawnSync('node', [`${repoRoot}/cli/bin/fleetcap.mjs`, 'run', ...args], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(res.status, 2, res.stderr);
    assert.match(res.stderr, message);
    assert.ok(!res.stdout.includes('start the stack'), 'nothing was started');
  }
});

test('Ctrl-C in the middle of a lab scenario stops the apps and the agent and tears the lab down', {
  timeout: 300_000,
}, async () => {
  assertStackUp();
  const run = startRun(['--scenarios', 'benign,portscan']);
  await run.waitFor('lab scenario 1/2: benign');
  await sleep(4000);
  run.interrupt();
  const [code] = await run.exited;
  const out = run.out;
  assert.equal(code, 130, out);
  assert.ok(out.includes('tear the traffic lab down'), out);
  assert.ok(!out.includes('lab scenario 2/2'), 'no scenario starts after the Ctrl-C');
  assert.doesNotMatch(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }), /fcl-/);
  assert.notEqual(spawnSync('ip', ['link', 'show', 'fcl-mon0']).status, 0, 'fcl-mon0 was removed');
  const left = spawnSync('pgrep', ['-af', `${repoRoot}/apps/|fcl-mon0|nmap|hping3|slowhttptest|hydra|sqlmap`], {
    encoding: 'utf8',
  }).stdout.trim();
  assert.equal(left, '', 'no app, sniffer or lab tool is left running');
  assertStackUp();
});

/** GET over HTTPS trusting `ca` only. */
function httpsGetText(url: string, ca: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}
