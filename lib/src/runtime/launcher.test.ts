import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { launchApp, readyPort } from './launcher.ts';

async function until(check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    assert.ok(Date.now() < deadline, `not within ${ms} ms`);
    await sleep(20);
  }
}

describe('readyPort', () => {
  it('reads the ready signal', () => {
    assert.equal(readyPort({ type: 'ready', app: 'forecast', pid: 1, port: 8090 }), 8090);
    assert.equal(readyPort({ type: 'ready', app: 'sniffer', pid: 1, port: null }), null);
  });

  it('ignores every other message', () => {
    // The old {type:'listening', port} form included: every app sends the ready signal now.
    for (const message of [null, 'ready', 42, { type: 'ready' }, { type: 'listening', port: 8080 }, {}]) {
      assert.equal(readyPort(message), undefined, JSON.stringify(message));
    }
  });
});

describe('launchApp', () => {
  // A repository of one app, apps/fake, that behaves as FAKE_MODE says; tsx is found through the real node_modules.
  const root = mkdtempSync(join(tmpdir(), 'fleetcap-launcher-'));
  symlinkSync(fileURLToPath(new URL('../../../node_modules', import.meta.url)), join(root, 'node_modules'));
  mkdirSync(join(root, 'apps', 'fake', 'src'), { recursive: true });
  writeFileSync(
    join(root, 'apps', 'fake', 'src', 'main.ts'),
    // The SIGTERM handler comes before the first line of output: a test that stops the app once it has printed
    // must never meet the default handler (exit by signal, so stop() would resolve null).
    `const mode: string = process.env.FAKE_MODE ?? '';
if (mode === 'stubborn') process.on('SIGTERM', () => console.log('not stopping'));
else process.on('SIGTERM', () => process.exit(0));
console.log('fake up in', process.cwd());
if (mode === 'exit') process.exit(3);
if (mode === 'ready') process.send?.({ type: 'ready', app: 'fake', pid: process.pid, port: 4321 });
if (mode === 'stubborn') process.send?.({ type: 'ready', app: 'fake', pid: process.pid, port: null });
setInterval(() => {}, 1000);
`,
  );
  after(() => rmSync(root, { recursive: true, force: true }));
  const launch = (mode: string, logFile?: string) =>
    launchApp({ name: `fake-${mode}`, app: 'fake', root, env: { FAKE_MODE: mode }, ...(logFile ? { logFile } : {}) });

  it('waits for the ready signal, collects the output into its log file, stops with SIGTERM', async () => {
    const logFile = join(root, 'logs', 'fake.log');
    const app = launch('ready', logFile);
    assert.equal(await app.ready(30_000), 4321);
    assert.equal(await app.stop(), 0);
    assert.match(app.output(), /fake up in .*fleetcap-launcher-/);
    // The log file is written asynchronously: it holds the output shortly after the exit.
    await until(() => readFileSync(logFile, 'utf8') === app.output());
  });

  it('takes a ready signal without a port; kills an app that ignores SIGTERM at the deadline', async () => {
    const app = launch('stubborn');
    assert.equal(await app.ready(30_000), null);
    assert.equal(await app.stop(300), null);
    assert.equal(app.child.signalCode, 'SIGKILL');
    assert.match(app.output(), /not stopping/);
  });

  it('says so when the app exits before it is ready, with its output, or is not ready in time', async () => {
    await assert.rejects(
      launch('exit').ready(30_000),
      /^Error: fake-exit exited with 3 before it was ready:\nfake up in/,
    );
    const silent = launch('silent');
    await assert.rejects(silent.ready(500), /^Error: fake-silent did not start within 0.5 s:\n/);
    await until(() => silent.output().includes('fake up'));
    assert.equal(await silent.stop(), 0);
    const logged = launch('exit', join(root, 'logs', 'exit.log'));
    await assert.rejects(logged.ready(30_000), /exited with 3 before it was ready; see .*exit\.log$/);
  });
});
