// The console as an operator meets it, in a real browser (Debian's Chromium through puppeteer-core): `fleetcap up`
// starts it (the servers are up already: the shared stack is not stopped, only the console this test started is),
// `fleetcap console-user add` makes the account, the operator signs in and sees the fleet as SQL holds it. Then
// `fleetcap run --scenarios portscan --keep` drives the traffic lab's nmap scan past its agent and prints the console's
// address (the one `fleetcap up` started serves the run); the operator filters the run's alerts by time range, agent,
// source, label and target, pages to older alerts, opens a session, and downloads its pcap, which tshark reads as the
// packets MariaDB kept. Every number and row the pages show is checked against SQL. Needs root (the lab's network
// namespaces), the lab's tools (lab/setup.sh) and the apps' fixed local ports: run it under the integration lock.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import type mysql from 'mysql2/promise';
import type { Browser, Page } from 'puppeteer-core';
import { launchChromium } from '../helpers/browser.ts';
import {
  addConsoleUser,
  assertPcapIsKeptPackets,
  downloadPcap,
  fleetcapCli,
  formMinute,
  newPage,
  screenshot,
  setInput,
  signIn,
} from '../helpers/console-page.ts';
import { assertStackUp, mysqlAs, repoRoot, uniqueId } from '../helpers/stack.ts';

const stackHome = process.env.FLEETCAP_STACK_HOME ?? join(repoRoot, '.stack');
const tlsDir = join(stackHome, 'tls');
const shots = join(stackHome, 'console-screenshots');
const consolePidFile = join(stackHome, 'run', 'console.pid');
const runsDir = join(stackHome, 'lab-runs');
/** The run's agent (cli/src/commands/run.ts) and the lab's mirror port it captures on. */
const runAgent = 'local-agent';
/**
 * The lab's seed decides the scan (lab/run.sh): 420 is a TCP scan of 71 ports of one server (tens of alerted sessions
 * a run, more than a page, and a vertical_scan detection). Smaller seeds' scans (a UDP scan of 12 probes) stay under
 * the detectors' thresholds, so a random seed would leave the detections table empty in some runs.
 */
const seed = 420;
/** FLEETCAP_CONSOLE_PAGE_ROWS's default: the console `fleetcap up` starts shows this many alerts a page. */
const pageRows = 50;
const admin = { name: uniqueId('opadmin').slice(0, 60), password: `op-${Math.random().toString(36).slice(2)}-pw-1` };
const work = mkdtempSync(join(tmpdir(), 'fleetcap-console-operator-'));

/** The operator's environment: none of the plain-HTTP allowances test/helpers/stack.ts gives the apps tests start. */
const operatorEnv: NodeJS.ProcessEnv = { ...process.env };
delete operatorEnv.FLEETCAP_SPLITCAP_PLAINTEXT;

let db: mysql.Connection;
let browser: Browser;
/** Where `fleetcap up` said the console is, and its pid when this test's `fleetcap up` started it (else null). */
let upConsole: { url: string; pid: number | null };
let run: ChildProcess | undefined;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Stops the `fleetcap run` this test started: on SIGTERM it stops its apps and tears the lab down. */
function stopRun(): void {
  if (run && run.exitCode === null && run.signalCode === null) run.kill('SIGTERM');
}

/** Stops the console this test's `fleetcap up` started, by its pid (as `fleetcap down` does), and nothing else. */
async function stopOurConsole(): Promise<void> {
  const pid = upConsole?.pid;
  if (!pid || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 15_000;
  while (alive(pid) && Date.now() < deadline) await sleep(200);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  if (existsSync(consolePidFile) && readFileSync(consolePidFile, 'utf8').trim() === String(pid))
    rmSync(consolePidFile, { force: true });
}

// A runner that times the file out ends it: the run and the console are stopped first, never left on their ports.
const stopAll = (): void => {
  stopRun();
  if (upConsole?.pid && alive(upConsole.pid)) process.kill(upConsole.pid, 'SIGTERM');
};
process.once('exit', stopAll);
process.once('SIGTERM', () => {
  stopAll();
  process.exit(143);
});

/** GET over HTTPS trusting the stack's CA only. */
function httpsStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: readFileSync(join(tlsDir, 'ca.crt')), timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

async function rows<T>(sql: string, values: unknown[] = []): Promise<T[]> {
  const [r] = await db.query(sql, values);
  return r as T[];
}

/**
 * What the page shows, read again (the page reloaded) until it is what SQL holds before and after reading it: the
 * run's alerts keep arriving for a while (sessions close, detections mark rows as alerts after the fact).
 */
async function shownAsSql<T>(
  what: string,
  page: Page,
  shown: () => Promise<T>,
  sql: () => Promise<T>,
  /** Also wait until SQL holds this (e.g. the detector's row, which comes after the verdicts). */
  ready: (held: T) => boolean = () => true,
  timeoutMs = 90_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    if (attempt > 0) await page.reload();
    const before = await sql();
    const seen = await shown();
    const after = await sql();
    if (isDeepStrictEqual(before, after) && isDeepStrictEqual(seen, after) && ready(after)) return seen;
    if (Date.now() > deadline) {
      assert.deepEqual(seen, after, `${what}: the page shows what SQL holds`);
      return seen;
    }
    await sleep(2000);
  }
}

before(async () => {
  assertStackUp();
  assert.equal(process.getuid?.(), 0, 'the traffic lab needs root (network namespaces, raw sockets)');
  for (const f of ['ca.crt', 'console.crt'])
    assert.ok(existsSync(join(tlsDir, f)), `${tlsDir}/${f} is made by bash stack/stack.sh up`);
  db = await mysqlAs('admin', { timezone: 'Z' });
  // What an operator types: the servers are up already (stack.sh up finds them so), the console starts unless one
  // answers on its port.
  const up = fleetcapCli(['up'], undefined, operatorEnv);
  assert.equal(up.status, 0, `fleetcap up: ${up.stdout}${up.stderr}`);
  const said = /^console: (https:\/\/\S+) \((?:pid (\d+);|already running)/m.exec(up.stdout);
  assert.ok(said, `fleetcap up says where the console is:\n${up.stdout}`);
  upConsole = { url: said[1]!.replace(/\/$/, ''), pid: said[2] ? Number(said[2]) : null };
  if (upConsole.pid !== null)
    assert.equal(readFileSync(consolePidFile, 'utf8').trim(), String(upConsole.pid), 'its pid is in run/console.pid');
  addConsoleUser(admin.name, 'admin', admin.password);
  browser = await launchChromium(join(tlsDir, 'console.crt'));
});

after(async () => {
  await browser?.close();
  if (run && run.exitCode === null && run.signalCode === null) {
    const exited = once(run, 'exit');
    stopRun();
    await exited;
  }
  await stopOurConsole();
  await db?.query('DELETE FROM console_user WHERE name = ?', [admin.name]);
  await db?.end();
  rmSync(work, { recursive: true, force: true });
});

describe('the console of fleetcap up and fleetcap run', () => {
  test('after `fleetcap up`, an operator signs in with an account of `fleetcap console-user add` and sees the fleet', async () => {
    const page = await newPage(browser);
    const res = await page.goto(`${upConsole.url}/fleet`);
    assert.equal(res?.status(), 200);
    assert.equal(new URL(page.url()).pathname, '/sign-in', 'the fleet needs an account');
    assert.equal(await signIn(page, upConsole.url, admin.name, admin.password), 200);
    assert.equal(new URL(page.url()).pathname, '/fleet');
    // Every agent with a config, a status or a credential, with what SQL says of it.
    await shownAsSql(
      'the fleet',
      page,
      () =>
        page.$$eval('#fleet tbody tr', (trs) =>
          trs.map((t) => {
            const cells = [...t.querySelectorAll('td')].map((c) => c.textContent ?? '');
            return [t.getAttribute('data-agent') ?? '', cells[1]!, cells[3]!, cells[4]!];
          }),
        ),
      async () =>
        (
          await rows<{ agent_id: string; online: number | null; revision: number | null; applied: number | null }>(
            `SELECT a.agent_id, s.online, c.revision, s.applied_revision AS applied
             FROM (SELECT agent_id FROM sniffer_config UNION SELECT agent_id FROM agent_status
                   UNION SELECT agent_id FROM agent_credential) a
             LEFT JOIN sniffer_config c USING (agent_id) LEFT JOIN agent_status s USING (agent_id)`,
          )
        )
          .map((r) => [
            r.agent_id,
            r.online ? 'online' : 'offline',
            r.revision === null ? '-' : String(r.revision),
            r.applied === null ? '-' : String(r.applied),
          ])
          .sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
    );
    await screenshot(page, shots, 'up-fleet');
    await page.close();
  });

  test('the alerts of a `fleetcap run` of the lab scan: filtered, paged, one session opened and its pcap read by tshark', {
    timeout: 540_000,
  }, async () => {
    const startedAt = new Date(Date.now() - 5000);
    run = spawn(
      'node',
      [join(repoRoot, 'cli/bin/fleetcap.mjs'), 'run', '--scenarios', 'portscan', '--seed', String(seed), '--keep'],
      { cwd: repoRoot, env: operatorEnv, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    run.stdout!.on('data', (d) => (out += d));
    run.stderr!.on('data', (d) => (out += d));
    // Stack check, apps, lab, nmap, verdicts: about a minute on a quiet machine, several on a busy one.
    const runDeadline = Date.now() + 360_000;
    while (!out.includes('fleetcap keeps running') && Date.now() < runDeadline && run.exitCode === null)
      await sleep(500);
    assert.ok(out.includes('fleetcap keeps running'), `the run got through its report (exit ${run.exitCode}):\n${out}`);
    // The report says where the console is: the one `fleetcap up` started serves the run too.
    const printed = /^Console: (https:\/\/\S+?)\/? /m.exec(out)?.[1];
    assert.equal(printed, upConsole.url, `the run's report names the console of fleetcap up\n${out}`);
    const labels = JSON.parse(readFileSync(join(runsDir, `portscan-${seed}`, 'labels.json'), 'utf8')) as {
      attacker_addrs: string[];
    };
    const [attacker] = await rows<{ client_addr: string; n: number }>(
      `SELECT client_addr, COUNT(*) AS n FROM session_verdict
       WHERE alert = 1 AND agent_id = ? AND client_addr IN (?) AND first_packet_at >= ?
       GROUP BY client_addr ORDER BY n DESC, client_addr LIMIT 1`,
      [runAgent, labels.attacker_addrs, startedAt],
    );
    assert.ok(attacker, `alerts of the lab's attacker ${labels.attacker_addrs.join(', ')}:\n${out}`);
    const source = attacker.client_addr;

    const page = await newPage(browser);
    assert.equal(await signIn(page, upConsole.url, admin.name, admin.password), 200);

    // The fleet while the run captures: its agent online, capturing, with the revision it applied and its config.
    const [agent] = await rows<{ state: string; revision: number; applied_revision: number; device: string }>(
      `SELECT s.state, c.revision, s.applied_revision, c.device FROM agent_status s JOIN sniffer_config c USING (agent_id)
       WHERE agent_id = ? AND s.online = 1`,
      [runAgent],
    );
    assert.ok(agent, `${runAgent} is online with a config`);
    const cells = await page.$$eval(`#fleet tr[data-agent="${runAgent}"] td`, (tds) =>
      tds.map((t) => t.textContent ?? ''),
    );
    assert.deepEqual(cells.slice(1, 5), [
      'online',
      agent.state,
      String(agent.revision),
      String(agent.applied_revision),
    ]);
    assert.ok(cells[9]!.startsWith(`${agent.device} · `), `the config cell shows the device: ${cells[9]}`);

    // The filter form, as a person fills it: the run's time, its agent, the attacker's address.
    const from = formMinute(startedAt, -60_000);
    const to = formMinute(new Date(), 120_000);
    const [fromAt, toAt] = [new Date(`${from}:00Z`), new Date(`${to}:00Z`)];
    await page.goto(`${upConsole.url}/alerts`);
    await setInput(page, 'input[name=from]', from);
    await setInput(page, 'input[name=to]', to);
    await page.type('input[name=agent]', runAgent);
    await page.type('input[name=source]', source);
    await Promise.all([page.waitForNavigation(), page.click('#filters button[type=submit]')]);
    const inFilter = `alert = 1 AND agent_id = ? AND client_addr = ? AND first_packet_at >= ? AND first_packet_at < ?`;
    const filterValues = [runAgent, source, fromAt, toAt];
    const newestFirst = 'ORDER BY first_packet_at DESC, alert_label DESC, id DESC';
    /** A page of rows newest first: the first, or the one after a row (keyset, as the page's "older" link). */
    const alertsPage = (afterId?: number) => async () =>
      (
        await rows<{ id: number; alert_label: string }>(
          `SELECT id, alert_label FROM session_verdict WHERE ${inFilter}${
            afterId === undefined
              ? ''
              : ` AND (first_packet_at, alert_label, id) <
                  (SELECT first_packet_at, alert_label, id FROM session_verdict WHERE id = ${Number(afterId)})`
          } ${newestFirst} LIMIT ?`,
          [...filterValues, pageRows],
        )
      ).map((r) => [String(r.id), r.alert_label]);
    const shownRows = () =>
      page.$$eval('#alerts tbody tr', (trs) =>
        trs.map((t) => [t.getAttribute('data-id'), t.getAttribute('data-label')]),
      );
    const perLabel = async () =>
      (
        await rows<{ label: string; n: number }>(
          `SELECT alert_label AS label, COUNT(*) AS n FROM session_verdict WHERE ${inFilter}
           GROUP BY alert_label ORDER BY alert_label`,
          filterValues,
        )
      ).map((r) => [r.label, Number(r.n)] as [string, number]);
    // The newest page of rows, the total, the chart's counts per label and the detections of that source.
    const first = await shownAsSql(
      'the filtered alerts',
      page,
      async () => {
        const bars = await page.$$eval('svg.chart rect.bar', (rs) =>
          rs.map((r) => [r.getAttribute('data-label') ?? '', Number(r.getAttribute('data-count'))] as const),
        );
        const chart = new Map<string, number>();
        for (const [l, n] of bars) chart.set(l, (chart.get(l) ?? 0) + n);
        return {
          rows: await shownRows(),
          total: await page.$eval('#alert-total', (e) => e.textContent ?? ''),
          chart: [...chart].sort((a, b) => (a[0] < b[0] ? -1 : 1)),
          detections: await page.$$eval('#detections tbody tr[data-detector]', (trs) =>
            trs.map((t) => [t.getAttribute('data-detector'), t.children[2]?.textContent]),
          ),
        };
      },
      async () => {
        const counts = await perLabel();
        const detections = await rows<{ detector: string; source_addr: string }>(
          `SELECT detector, source_addr FROM detection WHERE last_seen >= ? AND first_seen < ? AND source_addr = ?
             AND JSON_CONTAINS(agents, JSON_QUOTE(?)) ORDER BY last_seen DESC, id DESC LIMIT ?`,
          [fromAt, toAt, source, runAgent, pageRows],
        );
        return {
          rows: await alertsPage()(),
          total: String(counts.reduce((a, c) => a + c[1], 0)),
          chart: counts,
          detections: detections.map((d) => [d.detector, d.source_addr]),
        };
      },
      (held) => held.detections.length > 0,
    );
    assert.ok(Number(first.total) > 0, 'the run alerted sessions of the attacker');
    assert.ok(
      first.detections.some(([d]) => d === 'vertical_scan' || d === 'horizontal_scan'),
      `a scan detection of ${source}: ${JSON.stringify(first.detections)}`,
    );
    await screenshot(page, shots, 'run-alerts');
    // Older alerts, one click away: the next rows in the same order.
    if (Number(first.total) > pageRows) {
      await Promise.all([page.waitForNavigation(), page.click('#next')]);
      await shownAsSql('the older alerts', page, shownRows, alertsPage(Number(first.rows.at(-1)![0])));
      await page.goBack();
    }

    // The label the scan was alerted as, added to the form.
    const [label] = first.chart.reduce((a, c) => (c[1] > a[1] ? c : a));
    await page.type('input[name=label]', label);
    await Promise.all([page.waitForNavigation(), page.click('#filters button[type=submit]')]);
    const labelled = await shownAsSql(
      `the alerts labelled ${label}`,
      page,
      async () => ({
        rows: await shownRows(),
        total: await page.$eval('#alert-total', (e) => e.textContent ?? ''),
      }),
      async () => {
        const [c] = await rows<{ n: number }>(
          `SELECT COUNT(*) AS n FROM session_verdict WHERE ${inFilter} AND alert_label = ?`,
          [...filterValues, label],
        );
        const r = await rows<{ id: number }>(
          `SELECT id FROM session_verdict WHERE ${inFilter} AND alert_label = ? ${newestFirst} LIMIT ?`,
          [...filterValues, label, pageRows],
        );
        return { rows: r.map((x) => [String(x.id), label]), total: String(c!.n) };
      },
    );
    assert.ok(labelled.rows.length > 0);

    // One click to a session: the one of this page that kept the most packets.
    const shownIds = labelled.rows.map((r) => Number(r[0]));
    const [chosen] = await rows<{ verdict_id: number; n: number }>(
      `SELECT verdict_id, COUNT(*) AS n FROM alert_packet WHERE verdict_id IN (?)
       GROUP BY verdict_id ORDER BY n DESC, verdict_id DESC LIMIT 1`,
      [shownIds],
    );
    assert.ok(chosen, 'an alert of the page kept its packets');
    const id = Number(chosen.verdict_id);
    await Promise.all([page.waitForNavigation(), page.click(`#alerts tr[data-id="${id}"] a`)]);
    assert.equal(new URL(page.url()).pathname, `/sessions/${id}`);
    const [record] = await rows<Record<string, unknown>>('SELECT * FROM session_verdict WHERE id = ?', [id]);
    const field = (name: string) => page.$eval(`td[data-field="${name}"]`, (e) => e.textContent ?? '');
    assert.equal(await page.$eval('#community-id', (e) => e.textContent), String(record!.community_id));
    for (const name of ['agent_id', 'client_addr', 'client_port', 'server_addr', 'server_port', 'label', 'alert_label'])
      assert.equal(await field(name), String(record![name]), `the session's ${name}`);
    for (const name of ['conn_state', 'history'])
      assert.equal(await field(name), record![name] === null ? '-' : String(record![name]), `the session's ${name}`);
    const [sightings] = await rows<{ n: number }>('SELECT COUNT(*) AS n FROM session_verdict WHERE community_id = ?', [
      record!.community_id,
    ]);
    assert.equal(await page.$$eval('#sightings tbody tr', (t) => t.length), Math.min(100, Number(sightings!.n)));
    assert.equal(await page.$$eval('#packets tbody tr', (t) => t.length), Number(chosen.n), 'a row per kept packet');
    await screenshot(page, shots, 'run-session');
    const file = await downloadPcap(page, join(work, 'downloads'), id);
    assert.equal(await assertPcapIsKeptPackets(db, file, id), Number(chosen.n));

    // The target filter: the session's server and port.
    const target = `${record!.server_addr}:${record!.server_port}`;
    await page.goto(
      `${upConsole.url}/alerts?${new URLSearchParams({ from, to, agent: runAgent, source, target }).toString()}`,
    );
    await shownAsSql(
      `the alerts of ${source} to ${target}`,
      page,
      () => page.$eval('#alert-total', (e) => e.textContent ?? ''),
      async () => {
        const [c] = await rows<{ n: number }>(
          `SELECT COUNT(*) AS n FROM session_verdict WHERE ${inFilter} AND server_addr = ? AND server_port = ?`,
          [...filterValues, record!.server_addr, record!.server_port],
        );
        return String(c!.n);
      },
    );
    await page.close();

    // Stopped, the run takes its apps and the lab with it and leaves the console it did not start.
    const exited = once(run, 'exit');
    stopRun();
    await exited;
    assert.doesNotMatch(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout, /fcl-/, 'the lab is gone');
    assert.equal(await httpsStatus(`${upConsole.url}/healthz`), 200, "fleetcap up's console still serves");
  });
});
