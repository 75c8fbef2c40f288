// The compiled build is what the image runs (Dockerfile: node <package>/dist/main.js, no tsx). This builds it
// (`npm run build`), checks that docker-compose.yml and the Dockerfile's runtime stage start exactly what the build
// made, then runs it on plain node (no tsx, no fleetcap-source condition) against the local stack: forecast and
// splitcap come up healthy, and the listener forks the compiled sniffer, whose uploads splitcap stores in Redis
// (through the Lua script the build copied beside it).
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type LiveStatus, liveStatusSchema } from '@fleetcap/lib/agent/live-status';
import { execArgvFor } from '@fleetcap/lib/runtime/entry';
import type { ZkClient } from '@fleetcap/lib/zookeeper/client';
import { Redis } from 'ioredis';
import { composeConfig } from '../helpers/compose.ts';
import { redisKeysWithPrefix, removePipelineNamespace } from '../helpers/namespace.ts';
import { appEntry, type RunningApp, startApp } from '../helpers/processes.ts';
import { assertStackUp, connections, removeZkTree, repoRoot, uniqueId, zkConnect } from '../helpers/stack.ts';

const packages = ['lib', 'cli', ...readdirSync(join(repoRoot, 'apps')).map((a) => `apps/${a}`)].filter((d) =>
  existsSync(join(repoRoot, d, 'package.json')),
);
const prefix = uniqueId('cb').replace(/[^A-Za-z0-9]/g, '');
const agentId = uniqueId('fca-compiled');
const token = 'compiled-build-token-0123456789';
const chroot = `/fca-test-${agentId}`;
const work = mkdtempSync(join(tmpdir(), 'compiled-build-'));

function files(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files(path, out);
    else out.push(path);
  }
  return out;
}

/** The process's command line, as the kernel has it. */
function commandLine(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}

function assertPlainNode(pid: number, entry: string): void {
  const argv = commandLine(pid);
  assert.deepEqual(argv.slice(1), [entry], `pid ${pid} runs ${entry} on plain node: ${argv.join(' ')}`);
  assert.ok(!argv.some((a) => /tsx|fleetcap-source/.test(a)), argv.join(' '));
}

async function healthz(port: number): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

let buildMs = 0;
let forecast: RunningApp | undefined;
let splitcap: RunningApp | undefined;

before(() => {
  const t0 = Date.now();
  execFileSync('npm', ['run', 'build'], { cwd: repoRoot, stdio: 'pipe', timeout: 600_000 });
  buildMs = Date.now() - t0;
  console.log(`# npm run build: ${(buildMs / 1000).toFixed(1)} s`);
});

after(async () => {
  await forecast?.stop();
  await splitcap?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('npm run build', () => {
  test('every package has its compiled entry points, and every non-TypeScript file of src/ beside them', () => {
    for (const dir of packages) {
      const src = join(repoRoot, dir, 'src');
      for (const file of files(src)) {
        const rel = relative(src, file);
        if (rel.endsWith('.test.ts')) {
          assert.ok(
            !existsSync(join(repoRoot, dir, 'dist', rel.replace(/\.ts$/, '.js'))),
            `${dir}: ${rel} is not built`,
          );
          continue;
        }
        const out = join(repoRoot, dir, 'dist', rel.endsWith('.ts') ? rel.replace(/\.ts$/, '.js') : rel);
        assert.ok(existsSync(out), `${dir}/src/${rel} -> ${relative(repoRoot, out)}`);
        if (!rel.endsWith('.ts')) assert.deepEqual(readFileSync(out), readFileSync(file), `${rel} copied as it is`);
      }
    }
    for (const dir of packages.filter((d) => d !== 'lib'))
      assert.ok(existsSync(join(repoRoot, dir, 'dist/main.js')), `${dir}/dist/main.js`);
    // Relative imports compile to .js (rewriteRelativeImportExtensions); none is left pointing at a .ts file.
    for (const dir of packages) {
      for (const file of files(join(repoRoot, dir, 'dist')).filter((f) => f.endsWith('.js'))) {
        assert.doesNotMatch(readFileSync(file, 'utf8'), /from ['"]\.{1,2}\/[^'"]*\.ts['"]/, relative(repoRoot, file));
      }
    }
  });

  test('docker-compose.yml and the Dockerfile start the compiled build, on plain node', () => {
    const { services } = composeConfig();
    const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    assert.match(runtime, /^ENTRYPOINT \["node"\]$/m, 'the runtime stage runs node, no loader');
    assert.doesNotMatch(runtime, /tsx/, 'the runtime stage has no tsx');
    assert.match(runtime, /^RUN npm ci --omit=dev/m, 'the runtime stage installs production dependencies only');
    const copied = new Set([...runtime.matchAll(/^COPY --from=build \/app\/(\S+) (\S+)$/gm)].map((m) => m[2]));
    for (const dir of [...packages, 'stack']) assert.ok(copied.has(`${dir}/dist`), `the image holds ${dir}/dist`);

    const apps = Object.entries(services).filter(([, s]) => s.profiles?.includes('apps'));
    assert.ok(apps.length >= 5);
    for (const [name, s] of apps) {
      assert.deepEqual(s.command, [`apps/${name}/dist/main.js`], `${name} runs its compiled build`);
      assert.ok(existsSync(join(repoRoot, s.command![0]!)), `${s.command![0]} is built`);
    }
    const init = (services['stack-init']!.command ?? []).join(' ');
    // migrate and the compose agent's enrolment through the CLI, then the connector through the probe.
    const entries = [...new Set([...init.matchAll(/node (\S+)/g)].map((m) => m[1]!))];
    assert.deepEqual(entries, ['cli/dist/main.js', 'stack/dist/probe.js'], init);
    assert.doesNotMatch(init, /\btsx\b/, 'stack-init runs no TypeScript loader');
    for (const e of entries) assert.ok(existsSync(join(repoRoot, e)), `${e} is built`);
  });
});

describe('the compiled build on plain node, against the local stack', { timeout: 180_000 }, () => {
  let redis: Redis;
  let rootZk: ZkClient;
  let zk: ZkClient;
  let listener: ChildProcess | undefined;
  let listenerOutput = '';

  before(async () => {
    assertStackUp();
    redis = new Redis(connections.redisUrl);
    rootZk = await zkConnect();
    await rootZk.mkdirp(chroot);
    zk = await zkConnect({ chroot });
  });

  after(async () => {
    if (listener !== undefined && listener.exitCode === null) {
      listener.kill('SIGTERM');
      await Promise.race([new Promise((r) => listener!.once('exit', r)), sleep(20_000)]);
      if (listener.exitCode === null) listener.kill('SIGKILL');
    }
    await zk?.close();
    if (rootZk !== undefined) {
      await removeZkTree(rootZk, chroot);
      await rootZk.close();
    }
    redis?.disconnect();
    await removePipelineNamespace(prefix);
  });

  test('forecast starts from apps/forecast/dist/main.js: ready, and /healthz answers 200', async () => {
    forecast = await startApp('forecast', { FLEETCAP_FORECAST_PORT: '0' }, 60_000, 'compiled');
    assertPlainNode(forecast.child.pid!, appEntry('forecast', 'compiled'));
    const h = await healthz(forecast.port);
    assert.equal(h.status, 200, h.body);
    assert.equal(JSON.parse(h.body).ok, true);
  });

  test('splitcap starts from apps/splitcap/dist/main.js: ready, and /healthz answers 200', async () => {
    splitcap = await startApp(
      'splitcap',
      {
        FLEETCAP_SPLITCAP_PORT: '0',
        FLEETCAP_SPLITCAP_TOKENS: `${agentId}=${token}`,
        FLEETCAP_REDIS_PREFIX: prefix,
        FLEETCAP_QUEUE_PREFIX: prefix,
      },
      60_000,
      'compiled',
    );
    assertPlainNode(splitcap.child.pid!, appEntry('splitcap', 'compiled'));
    const h = await healthz(splitcap.port);
    assert.equal(h.status, 200, h.body);
  });

  test('the compiled listener forks the compiled sniffer, whose batches the compiled splitcap stores', async () => {
    assert.ok(splitcap, 'splitcap runs');
    const port = 30000 + Math.floor(Math.random() * 20000);
    const base = `/fleetcap/agents/${agentId}`;
    await zk.mkdirp(base);
    await zk.create(
      `${base}/config`,
      Buffer.from(
        JSON.stringify({
          agentId,
          device: 'lo',
          bpfFilter: `udp and dst port ${port}`,
          splitcapUrl: `http://127.0.0.1:${splitcap.port}`,
          snaplen: 65535,
          batchPackets: 100,
          batchMs: 100,
          uploadConcurrency: 1,
          enabled: true,
          revision: 1,
        }),
      ),
    );
    const entry = appEntry('listener', 'compiled');
    listener = fork(entry, [], {
      cwd: repoRoot,
      execArgv: execArgvFor(entry),
      env: {
        ...process.env,
        FLEETCAP_LOG_LEVEL: 'info',
        FLEETCAP_AGENT_ID: agentId,
        FLEETCAP_AGENT_TOKEN: token,
        FLEETCAP_ZK_CONNECT: `${connections.zookeeper}${chroot}`,
        FLEETCAP_SPOOL_DIR: join(work, 'spool'),
        FLEETCAP_LIVE_REFRESH_MS: '300',
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    listener.stdout?.on('data', (d) => (listenerOutput += d));
    listener.stderr?.on('data', (d) => (listenerOutput += d));
    assertPlainNode(listener.pid!, entry);

    let live: LiveStatus | null = null;
    const end = Date.now() + 60_000;
    while (Date.now() < end) {
      const node = await zk.getData(`${base}/live`);
      live = node === null ? null : liveStatusSchema.parse(JSON.parse(String(node.data)));
      if (live?.state === 'capturing' && live.snifferPid !== null) break;
      await sleep(100);
    }
    assert.equal(live?.state, 'capturing', `${JSON.stringify(live)}\n${listenerOutput.slice(-3000)}`);
    // `npm run build` bundles the sniffer into one file beside dist/main.js, and the compiled listener forks that
    // (apps/listener/src/sniffer-entry.ts).
    assertPlainNode(live!.snifferPid!, join(repoRoot, 'apps/sniffer/dist/main.bundle.mjs'));

    const socket = createSocket('udp4');
    const deadline = Date.now() + 20_000;
    let stored: string[] = [];
    while (Date.now() < deadline && stored.length === 0) {
      for (let i = 0; i < 5; i++) socket.send(`compiled-build-${i}`, port, '127.0.0.1');
      await sleep(300);
      stored = await redisKeysWithPrefix(redis, prefix, 's:*:m');
    }
    socket.close();
    assert.ok(stored.length > 0, `splitcap stored the sniffer's sessions\n${listenerOutput.slice(-3000)}`);
    assert.equal(await redis.hget(stored[0]!, 'agent'), agentId);
  });
});
