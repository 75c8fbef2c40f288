// What the console's browser tests do as a person does it (sign in, save a screenshot, download a session's pcap) and
// what they check a download against: the packets MariaDB kept for the alert, as tshark and the project's reader see
// them. Shared by test/integration/console.test.ts (its own pipeline's uploads) and console-operator.test.ts (the
// consoles of `fleetcap up` and `fleetcap run`).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readCaptureBuffer } from '@fleetcap/lib/pcap/reader';
import type mysql from 'mysql2/promise';
import type { Page } from 'puppeteer-core';
import { repoRoot } from './stack.ts';

/** The CLI as an operator runs it (its sources through cli/bin/fleetcap.mjs), stdin given, output collected. */
export function fleetcapCli(args: string[], input?: string, env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync('node', [`${repoRoot}/cli/bin/fleetcap.mjs`, ...args], {
    encoding: 'utf8',
    input,
    env: { ...env, FLEETCAP_LOG_LEVEL: 'warn' },
    timeout: 300_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A console account made by `fleetcap console-user add` with the password given on stdin. */
export function addConsoleUser(name: string, role: 'admin' | 'viewer', password: string): void {
  const r = fleetcapCli(['console-user', 'add', name, '--role', role, '--password-stdin'], `${password}\n`);
  assert.equal(r.status, 0, `fleetcap console-user add ${name}: ${r.stdout}${r.stderr}`);
}

/** Fills the sign-in form and sends it; resolves with the HTTP status of the page it lands on. */
export async function signIn(page: Page, base: string, name: string, password: string): Promise<number> {
  await page.goto(`${base}/sign-in`);
  await page.type('input[name=name]', name);
  await page.type('input[name=password]', password);
  const [res] = await Promise.all([page.waitForNavigation(), page.click('.sign-in button[type=submit]')]);
  return res?.status() ?? 0;
}

/** A new tab at the size the screenshots are taken at. */
export async function newPage(browser: { newPage(): Promise<Page> }): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  return page;
}

export async function screenshot(page: Page, dir: string, name: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`) });
}

/** A minute of `d` moved by `addMs`, as the filter form's datetime-local inputs take it (UTC). */
export function formMinute(d: Date, addMs = 0): string {
  return new Date(Math.floor(d.getTime() / 60000) * 60000 + addMs).toISOString().slice(0, 16);
}

/** Sets the value of a datetime-local input (typed digits would follow the page's locale order). */
export async function setInput(page: Page, selector: string, value: string): Promise<void> {
  await page.$eval(selector, (e, v) => ((e as unknown as { value: string }).value = v), value);
}

/** Clicks the session page's pcap link and waits for the browser to save the file; resolves with its path. */
export async function downloadPcap(page: Page, dir: string, verdictId: number): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const cdp = await page.createCDPSession();
  await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: dir });
  await page.click('#pcap');
  const file = join(dir, `fleetcap-${verdictId}.pcap`);
  const deadline = Date.now() + 10_000;
  while (!existsSync(file) && Date.now() < deadline) await sleep(100);
  assert.ok(existsSync(file), `the browser saved the download (${readdirSync(dir).join(', ')})`);
  return file;
}

/** tshark reads the file as the packets kept for the verdict: their times and lengths, and the frames byte for byte. */
export async function assertPcapIsKeptPackets(
  db: Pick<mysql.Connection, 'query'>,
  file: string,
  verdictId: number,
): Promise<number> {
  const tshark = execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'frame.len'], {
    encoding: 'utf8',
  })
    .split('\n')
    .filter((l) => l !== '');
  const [kept] = await db.query(
    'SELECT CAST(ts_us AS CHAR) AS ts_us, wire_length, frame FROM alert_packet WHERE verdict_id = ? ORDER BY ts_us, packet_index',
    [verdictId],
  );
  const k = kept as Array<{ ts_us: string; wire_length: number; frame: Buffer }>;
  assert.ok(k.length > 0, `verdict ${verdictId} has kept packets`);
  assert.deepEqual(
    tshark,
    k.map((p) => `${p.ts_us.slice(0, -6)}.${p.ts_us.slice(-6)}000\t${p.wire_length}`),
    'tshark reads the kept packets',
  );
  assert.deepEqual(
    [...readCaptureBuffer(readFileSync(file))].map((p) => p.data.toString('hex')),
    k.map((p) => p.frame.toString('hex')),
    'the frames are the kept bytes',
  );
  return k.length;
}
