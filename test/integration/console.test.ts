// The console in a real browser (Debian's Chromium through puppeteer-core) against real servers: alerts made by the
// real pipeline (shared captures uploaded to splitcap → Redis → RabbitMQ → session-worker → forecast → MariaDB), the
// console on HTTPS with the stack's certificate, accounts made by `fleetcap console-user add`. A person signs in, sees
// the fleet, filters the alerts, opens a session, downloads its pcap and tshark reads it packet for packet as kept;
// a wrong password, a form without its CSRF token and a viewer's admin action are refused; an admin enrols and
// revokes an agent from the page. Screenshots of each page at 1280×800 go to <stack home>/console-screenshots/.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type mysql from 'mysql2/promise';
import type { Browser, Page } from 'puppeteer-core';
import { launchChromium } from '../helpers/browser.ts';
import {
  assertPcapIsKeptPackets,
  downloadPcap,
  fleetcapCli,
  formMinute,
  newPage,
  screenshot,
  setInput,
  signIn as signInAt,
} from '../helpers/console-page.ts';
import { removePipelineNamespace } from '../helpers/namespace.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { assertStackUp, mysqlAs, repoRoot, uniqueId } from '../helpers/stack.ts';
import { postBatch } from '../helpers/upload.ts';

const stackHome = process.env.FLEETCAP_STACK_HOME ?? join(repoRoot, '.stack');
const tlsDir = join(stackHome, 'tls');
const shots = join(stackHome, 'console-screenshots');
const zeek = join(repoRoot, '..', 'shared', 'pcaps', 'zeek');
/** Real captures: an nmap version scan and an FTP brute force (the test's rules model alerts the scan's sessions under two labels). */
const captures = ['nmap-vsn.pcap', 'ftp/bruteforce.pcap'];
const prefix = uniqueId('cn').replace(/[^A-Za-z0-9]/g, '');
const agent = uniqueId('cnagent').slice(0, 60);
const enrolled = uniqueId('cnenrol').slice(0, 60);
const token = 'console-test-token-123';
const admin = { name: uniqueId('cnadmin').slice(0, 60), password: `admin-${Math.random().toString(36).slice(2)}-pw` };
const viewer = { name: uniqueId('cnviewer').slice(0, 60), password: '' };
const work = mkdtempSync(join(tmpdir(), 'fleetcap-console-'));

let splitcap: RunningApp;
let forecast: RunningApp;
let worker: RunningApp;
let consoleApp: RunningApp;
let browser: Browser;
let db: mysql.Connection;
let base: string;
/** The two alert labels of the uploaded captures, most alerts first (what the rules model makes of them). */
let alertLabels: [string, string];

const signIn = (page: Page, name: string, password: string) => signInAt(page, base, name, password);
const shot = (page: Page, name: string) => screenshot(page, shots, name);

/** /metrics over HTTPS, trusting the stack's CA only. */
function consoleMetrics(): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${base}/metrics`, { ca: readFileSync(join(tlsDir, 'ca.crt')) }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end();
  });
}
const counter = (name: string, label: string) => new RegExp(`${name}\\{[^}]*${label}[^}]*\\} [1-9]`);

before(async () => {
  assertStackUp();
  assert.ok(existsSync(zeek), `the shared captures are at ${zeek}`);
  for (const f of ['console.crt', 'console.key'])
    assert.ok(existsSync(join(tlsDir, f)), `${tlsDir}/${f} is made by bash stack/stack.sh up`);
  mkdirSync(shots, { recursive: true });
  db = await mysqlAs('admin', { timezone: 'Z' });
  const forecastPort = 18000 + Math.floor(Math.random() * 2000);
  [splitcap, forecast] = await Promise.all([
    startApp('splitcap', {
      FLEETCAP_SPLITCAP_PORT: '0',
      FLEETCAP_SPLITCAP_TOKENS: `${agent}=${token}`,
      FLEETCAP_REDIS_PREFIX: prefix,
      FLEETCAP_QUEUE_PREFIX: prefix,
      FLEETCAP_SESSION_DELAY_MS: '1000',
    }),
    // The test's own rules model (model/fixtures, as alerts.test.ts serves it): the alerts the pages show do not
    // depend on which model model/ ships.
    startApp(
      'forecast',
      {
        FLEETCAP_FORECAST_PORT: String(forecastPort),
        FLEETCAP_MODEL_PATH: join(repoRoot, 'model/fixtures/alert-rules.onnx'),
        FLEETCAP_MODEL_CARD_PATH: join(repoRoot, 'model/fixtures/alert-rules-card.json'),
      },
      30000,
    ),
  ]);
  worker = await startApp('session-worker', {
    FLEETCAP_FORECAST_URL: `http://127.0.0.1:${forecastPort}`,
    FLEETCAP_REDIS_PREFIX: prefix,
    FLEETCAP_QUEUE_PREFIX: prefix,
    FLEETCAP_WORKER_PORT: '0',
    FLEETCAP_WORKER_BATCH_MS: '10',
  });
  for (const c of captures) {
    const res = await postBatch(
      splitcap.port,
      { agent, token },
      `console-${c.replace(/\W/g, '_')}`,
      readFileSync(join(zeek, c)),
    );
    assert.equal(res.status, 202, await res.text());
  }
  // Both accounts through the CLI: the admin's password from stdin, the viewer's generated and printed once.
  const a = fleetcapCli(
    ['console-user', 'add', admin.name, '--role', 'admin', '--password-stdin'],
    `${admin.password}\n`,
  );
  assert.equal(a.status, 0, a.stderr);
  const v = fleetcapCli(['console-user', 'add', viewer.name, '--role', 'viewer']);
  assert.equal(v.status, 0, v.stderr);
  viewer.password = /shown this once:\n\s+(\S+)/.exec(v.stdout)?.[1] ?? '';
  assert.ok(viewer.password.length >= 12, v.stdout);
  consoleApp = await startApp('console', {
    FLEETCAP_CONSOLE_PORT: '0',
    FLEETCAP_CONSOLE_TLS_CERT: join(tlsDir, 'console.crt'),
    FLEETCAP_CONSOLE_TLS_KEY: join(tlsDir, 'console.key'),
    FLEETCAP_CONSOLE_SESSION_SECRET_FILE: join(stackHome, 'secrets', 'console-session.secret'),
    FLEETCAP_REDIS_PREFIX: prefix,
  });
  base = `https://127.0.0.1:${consoleApp.port}`;
  browser = await launchChromium(join(tlsDir, 'console.crt'));
  // The verdicts of both captures (each session is classified a second after its first packet, or at its close).
  const deadline = Date.now() + 60_000;
  let labels = 0;
  while (Date.now() < deadline) {
    const [rows] = await db.query(
      'SELECT COUNT(DISTINCT label) AS n FROM fleetcap.session_verdict WHERE agent_id = ? AND alert = 1',
      [agent],
    );
    labels = Number((rows as Array<{ n: number }>)[0]?.n);
    if (labels >= 2) break;
    await sleep(500);
  }
  assert.ok(labels >= 2, `the pipeline gave alerts of ${labels} labels for ${captures.join(', ')}`);
  const [byLabel] = await db.query(
    `SELECT v.label, COUNT(*) AS n FROM fleetcap.session_verdict v JOIN fleetcap.alert_packet p ON p.verdict_id = v.id
     WHERE v.agent_id = ? AND v.alert = 1 GROUP BY v.label ORDER BY n DESC, v.label LIMIT 2`,
    [agent],
  );
  const top = (byLabel as Array<{ label: string }>).map((r) => r.label);
  assert.equal(top.length, 2, 'alerts of two labels kept their packets');
  alertLabels = [top[0]!, top[1]!];
  await sleep(3000);
});

after(async () => {
  await browser?.close();
  await consoleApp?.stop();
  await worker?.stop();
  await splitcap?.stop();
  await forecast?.stop();
  await db?.query('DELETE FROM session_verdict WHERE agent_id = ?', [agent]);
  await db?.query('DELETE FROM console_user WHERE name IN (?)', [[admin.name, viewer.name]]);
  await db?.query('DELETE FROM agent_credential WHERE agent_id = ?', [enrolled]);
  await db?.end();
  await removePipelineNamespace(prefix, 1000);
  rmSync(work, { recursive: true, force: true });
});

describe('console', () => {
  test('pages need an account; a wrong password is refused and counted; plain HTTP is refused', async () => {
    const page = await newPage(browser);
    const res = await page.goto(`${base}/alerts`);
    assert.equal(new URL(page.url()).pathname, '/sign-in', 'a page without an account sends to the sign-in');
    assert.equal(res?.status(), 200);
    await shot(page, 'sign-in');
    const status = await signIn(page, admin.name, `${admin.password}-wrong`);
    assert.equal(status, 401);
    assert.equal(await page.$eval('#sign-in-error', (e) => e.textContent), 'Wrong name or password.');
    assert.equal(new URL(page.url()).pathname, '/sign-in');
    assert.match(await consoleMetrics(), counter('fleetcap_console_sign_ins_total', 'outcome="wrong-password"'));
    await assert.rejects(fetch(`http://127.0.0.1:${consoleApp.port}/sign-in`), 'no plain HTTP on the HTTPS port');
    await page.close();
  });

  test('an admin sees the fleet: every agent of sniffer_config and agent_status, with its status and config SQL', async () => {
    const page = await newPage(browser);
    assert.equal(await signIn(page, admin.name, admin.password), 200);
    assert.equal(new URL(page.url()).pathname, '/fleet');
    const [rows] = await db.query(
      'SELECT agent_id FROM sniffer_config UNION SELECT agent_id FROM agent_status UNION SELECT agent_id FROM agent_credential',
    );
    const expected = (rows as Array<{ agent_id: string }>).map((r) => r.agent_id).sort();
    const shown = await page.$$eval('#fleet tbody tr', (trs) => trs.map((t) => t.getAttribute('data-agent') ?? ''));
    assert.deepEqual(shown, expected);
    const [configured] = await db.query('SELECT agent_id, revision FROM sniffer_config LIMIT 1');
    const c = (configured as Array<{ agent_id: string; revision: number }>)[0];
    if (c) {
      const sql = await page.$eval(`#fleet tr[data-agent="${c.agent_id}"] pre.sql`, (e) => e.textContent ?? '');
      assert.match(sql, new RegExp(`UPDATE sniffer_config SET[\\s\\S]*WHERE agent_id = '${c.agent_id}';`));
    }
    await shot(page, 'fleet');
    await page.close();
  });

  test('the alerts of the uploaded captures, filtered by time range, agent and label, with the chart of their labels', async () => {
    const page = await newPage(browser);
    await signIn(page, admin.name, admin.password);
    const [span] = await db.query(
      `SELECT MIN(first_packet_at) AS t0, MAX(first_packet_at) AS t1, COUNT(*) AS n FROM session_verdict
       WHERE agent_id = ? AND alert = 1 AND label = ?`,
      [agent, alertLabels[0]],
    );
    const s = (span as Array<{ t0: Date; t1: Date; n: number }>)[0]!;
    assert.ok(Number(s.n) > 0, `alerts of ${alertLabels[0]}`);
    await page.goto(`${base}/alerts`);
    // Fill the filter form as a person does (datetime-local inputs take typed digits in the page's locale order).
    await setInput(page, 'input[name=from]', formMinute(s.t0, -60_000));
    await setInput(page, 'input[name=to]', formMinute(s.t1, 120_000));
    await page.type('input[name=agent]', agent);
    await page.type('input[name=label]', alertLabels[0]);
    await Promise.all([page.waitForNavigation(), page.click('#filters button[type=submit]')]);
    const labels = await page.$$eval('#alerts tbody tr', (trs) => trs.map((t) => t.getAttribute('data-label')));
    assert.ok(labels.length > 0);
    assert.deepEqual([...new Set(labels)], [alertLabels[0]]);
    assert.equal(Number(await page.$eval('#alert-total', (e) => e.textContent)), Number(s.n));
    const bars = await page.$$eval('svg.chart rect.bar', (rs) =>
      rs.map((r) => [r.getAttribute('data-label'), Number(r.getAttribute('data-count'))] as const),
    );
    assert.deepEqual([...new Set(bars.map((b) => b[0]))], [alertLabels[0]]);
    assert.equal(
      bars.reduce((a, b) => a + b[1], 0),
      Number(s.n),
      'the chart counts every filtered alert',
    );
    await shot(page, 'alerts');
    // Without the agent filter, a range of hours is counted from the hourly rollup (sql/014) over whole hours: the
    // count SQL gives for those hours, of every agent.
    const hourMs = 3_600_000;
    const h0 = new Date(Math.floor(s.t0.getTime() / hourMs) * hourMs - 3 * hourMs);
    const h1 = new Date(Math.ceil(s.t1.getTime() / hourMs) * hourMs + 3 * hourMs);
    const [inHours] = await db.query(
      `SELECT COUNT(*) AS n FROM session_verdict
       WHERE alert = 1 AND alert_label = ? AND first_packet_at >= ? AND first_packet_at < ?`,
      [alertLabels[0], h0, h1],
    );
    await page.goto(
      `${base}/alerts?label=${encodeURIComponent(alertLabels[0])}&from=${formMinute(h0, 0)}&to=${formMinute(h1, 0)}`,
    );
    assert.equal(
      Number(await page.$eval('#alert-total', (e) => e.textContent)),
      Number((inHours as Array<{ n: number }>)[0]?.n),
      'the rollup counts what the rows hold',
    );
    // Without the label filter both captures' labels are there; a bad filter is refused with what was wrong.
    await page.goto(
      `${base}/alerts?agent=${encodeURIComponent(agent)}&from=${formMinute(s.t0, -86_400_000 * 400)}&to=${formMinute(s.t1, 86_400_000 * 400)}`,
    );
    assert.match(await page.$eval('#filter-error', (e) => e.textContent ?? ''), /longer than 366 days/);
    const res = await page.goto(`${base}/alerts?source=not-an-address`);
    assert.equal(res?.status(), 400);
    assert.match(
      await page.$eval('#filter-error', (e) => e.textContent ?? ''),
      /source: "not-an-address" is not an IPv4 or IPv6 address/,
    );
    await page.close();
  });

  test('a session: its record, its packets as a table, and a pcap download tshark reads as the kept packets', async () => {
    const page = await newPage(browser);
    await signIn(page, admin.name, admin.password);
    const [alerts] = await db.query(
      `SELECT v.id, v.community_id, v.label, COUNT(p.packet_index) AS kept FROM session_verdict v
       JOIN alert_packet p ON p.verdict_id = v.id WHERE v.agent_id = ? AND v.alert = 1 AND v.label = ?
       GROUP BY v.id ORDER BY kept DESC, v.id LIMIT 1`,
      [agent, alertLabels[1]],
    );
    const a = (alerts as Array<{ id: number; community_id: string; label: string; kept: number }>)[0]!;
    assert.ok(a, 'an alert of ftp/bruteforce.pcap with kept packets');
    // From the alerts list, one click to the session.
    await page.goto(
      `${base}/alerts?agent=${encodeURIComponent(agent)}&label=${encodeURIComponent(alertLabels[1])}&from=${await firstMinute(a.id, -1)}&to=${await firstMinute(a.id, 2)}`,
    );
    await Promise.all([page.waitForNavigation(), page.click(`#alerts tr[data-id="${a.id}"] a`)]);
    assert.equal(new URL(page.url()).pathname, `/sessions/${a.id}`);
    assert.equal(await page.$eval('#community-id', (e) => e.textContent), a.community_id);
    assert.equal(await page.$eval('td[data-field="label"]', (e) => e.textContent), a.label);
    assert.equal(await page.$eval('td[data-field="conn_state"]', (e) => e.textContent !== ''), true);
    const rows = await page.$$eval('#packets tbody tr', (trs) => trs.length);
    assert.equal(rows, Number(a.kept));
    await shot(page, 'session');
    const file = await downloadPcap(page, join(work, 'downloads'), a.id);
    assert.equal(await assertPcapIsKeptPackets(db, file, a.id), Number(a.kept));
    await page.close();
  });

  test('an admin enrols an agent from the page (its secret shown once) and revokes it', async () => {
    const page = await newPage(browser);
    await signIn(page, admin.name, admin.password);
    await page.type('#enrol input[name=agent_id]', enrolled);
    await Promise.all([page.waitForNavigation(), page.click('#enrol button[type=submit]')]);
    const lines = await page.$eval('#message-lines', (e) => e.textContent ?? '');
    const secret = lines.split('\n')[0] ?? '';
    assert.match(secret, /^fca1_[A-Za-z0-9_-]{43}$/);
    const [rows] = await db.query(
      'SELECT COUNT(*) AS n FROM agent_credential WHERE agent_id = ? AND revoked_at IS NULL',
      [enrolled],
    );
    assert.equal(Number((rows as Array<{ n: number }>)[0]?.n), 1);
    await page.goto(`${base}/fleet`);
    assert.match(await page.$eval(`#fleet tr[data-agent="${enrolled}"]`, (e) => e.textContent ?? ''), /1 valid/);
    await Promise.all([page.waitForNavigation(), page.click(`#fleet tr[data-agent="${enrolled}"] button.danger`)]);
    assert.match(await page.$eval('#message', (e) => e.textContent ?? ''), /revoked 1 credential/);
    const [after] = await db.query(
      'SELECT COUNT(*) AS n FROM agent_credential WHERE agent_id = ? AND revoked_at IS NOT NULL',
      [enrolled],
    );
    assert.equal(Number((after as Array<{ n: number }>)[0]?.n), 1);
    await page.close();
  });

  test("a viewer's admin action is refused (403) and changes nothing; a form without its CSRF token is refused", async () => {
    const page = await newPage(browser);
    assert.equal(await signIn(page, viewer.name, viewer.password), 200);
    const id = `${enrolled}-v`;
    await page.type('#enrol input[name=agent_id]', id);
    const [res] = await Promise.all([page.waitForNavigation(), page.click('#enrol button[type=submit]')]);
    assert.equal(res?.status(), 403);
    assert.match(await page.$eval('#message', (e) => e.textContent ?? ''), /enrolling an agent is for admins/);
    const [rows] = await db.query('SELECT COUNT(*) AS n FROM agent_credential WHERE agent_id = ?', [id]);
    assert.equal(Number((rows as Array<{ n: number }>)[0]?.n), 0);
    await shot(page, 'viewer-refused');
    // The same form posted without its token (as another site's page would post it): refused before any role check.
    await page.goto(`${base}/fleet`);
    await page.type('#enrol input[name=agent_id]', id);
    await page.$eval('#enrol input[name=_csrf]', (e) => e.remove());
    const [forged] = await Promise.all([page.waitForNavigation(), page.click('#enrol button[type=submit]')]);
    assert.equal(forged?.status(), 403);
    assert.match(await page.$eval('#message', (e) => e.textContent ?? ''), /no valid CSRF token/);
    const metrics = await consoleMetrics();
    assert.match(metrics, counter('fleetcap_console_refused_total', 'reason="forbidden"'));
    assert.match(metrics, counter('fleetcap_console_refused_total', 'reason="csrf"'));
    await page.close();
  });
});

/** The minute of an alert's first packet, moved by `add` minutes, as the filter form takes it. */
async function firstMinute(id: number, add: number): Promise<string> {
  const [rows] = await db.query('SELECT first_packet_at AS t FROM session_verdict WHERE id = ?', [id]);
  const t = (rows as Array<{ t: Date }>)[0]!.t;
  return new Date(Math.floor(t.getTime() / 60000) * 60000 + add * 60000).toISOString().slice(0, 16);
}
