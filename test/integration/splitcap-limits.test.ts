// splitcap's upload limits against the real Redis and RabbitMQ (issue 19): the 63 MiB flood of 1,138,971
// single-packet UDP flows that used to grow splitcap to 4.5 GB and kill it gets a 422 that says what to do, within
// bounded memory, also with eight such uploads at once (the ninth and later wait with 503 busy + Retry-After), and
// splitcap stays up and keeps storing ordinary batches. A private redis-server with a small maxmemory shows the
// memory backpressure: uploads get 503 before Redis itself refuses a write. And the pcapng of issue 19 with capture
// times outside any real range: splitcap stores the rest, counts and reports those, and agrees with `fleetcap
// sessions` on the session's times.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { Pcapng } from '@fleetcap/lib/pcap/hand-built-captures';
import { META, sessionKeys } from '@fleetcap/lib/session-store/layout';
import { Redis } from 'ioredis';
import { FLOOD_FLOWS, floodCapture } from '../helpers/flood-capture.ts';
import { redisKeysWithPrefix, removePipelineNamespace } from '../helpers/namespace.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { assertStackUp, connections, repoRoot, uniqueId } from '../helpers/stack.ts';
import { syntheticCapture } from '../helpers/synthetic-sessions.ts';
import { postBatch } from '../helpers/upload.ts';

const DELAY_MS = 60_000;
const prefix = uniqueId('lim').replace(/[^A-Za-z0-9]/g, '');
const sender = { agent: 'flood-agent', token: 'flood-token-0123456789' };
const env = {
  FLEETCAP_SPLITCAP_PORT: '0',
  FLEETCAP_SPLITCAP_TOKENS: `${sender.agent}=${sender.token}`,
  FLEETCAP_REDIS_PREFIX: prefix,
  FLEETCAP_QUEUE_PREFIX: prefix,
  FLEETCAP_SESSION_DELAY_MS: String(DELAY_MS),
};

let splitcap: RunningApp;
let redis: Redis;
const flood = floodCapture();

/** The child's peak resident set (VmHWM), in MiB. */
function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

async function answer(res: Response) {
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: (await res.json()) as Record<string, unknown>,
  };
}

async function healthy(port: number): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  return res.status === 200;
}

/** Ready is not yet connected: the first upload must not meet a Redis still connecting. */
async function untilHealthy(port: number): Promise<void> {
  for (let i = 0; !(await healthy(port)); i++) {
    if (i > 100) throw new Error(`splitcap on ${port} did not become healthy`);
    await sleep(100);
  }
}

before(async () => {
  assertStackUp();
  redis = new Redis(connections.redisUrl);
  splitcap = await startApp('splitcap', env);
  await untilHealthy(splitcap.port);
});

after(async () => {
  await splitcap?.stop();
  redis?.disconnect();
  await removePipelineNamespace(prefix, DELAY_MS);
});

describe('upload limits', () => {
  test('the 63 MiB flood gets a 422 naming the limit and what to do, fast, and nothing of it is stored', async () => {
    assert.ok(flood.length > 63 * 2 ** 20 && flood.length < 64 * 2 ** 20, `flood is ${flood.length} bytes`);
    const started = Date.now();
    const res = await answer(await postBatch(splitcap.port, sender, 'flood-1', flood));
    const seconds = (Date.now() - started) / 1000;
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.reason, 'too-many-sessions');
    assert.match(String(res.body.error), /more than 50000 sessions .*smaller batches/);
    assert.ok(seconds < 20, `answered after ${seconds} s`);
    assert.ok(await healthy(splitcap.port));
    assert.deepEqual(await redisKeysWithPrefix(redis, prefix), [], 'a refused batch stores nothing');
    console.log(`flood of ${FLOOD_FLOWS} flows (${flood.length} B): 422 after ${seconds.toFixed(1)} s`);
  });

  test('eight floods at once: each gets 422 or 503 busy, splitcap stays up within bounded memory and still stores', async () => {
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => postBatch(splitcap.port, sender, `flood-many-${i}`, flood).then(answer)),
    );
    const statuses = answers.map((a) => a.status).sort();
    const busy = answers.filter((a) => a.status === 503);
    assert.ok(
      answers.every((a) => a.status === 422 || a.status === 503),
      statuses.join(','),
    );
    assert.ok(answers.filter((a) => a.status === 422).length >= 4, `at least the 4 admitted are answered: ${statuses}`);
    for (const b of busy) {
      assert.equal(b.body.reason, 'busy');
      assert.equal(b.retryAfter, '2');
    }
    const peak = peakRssMiB(splitcap.child.pid!);
    console.log(`8 floods at once: ${statuses.join(',')}; splitcap peak RSS ${peak.toFixed(0)} MiB`);
    assert.ok(peak < 1536, `splitcap peak RSS ${peak} MiB`);
    assert.ok(await healthy(splitcap.port));

    const metrics = await (await fetch(`http://127.0.0.1:${splitcap.port}/metrics`)).text();
    const refusals = (limit: string) =>
      Number(
        new RegExp(`fleetcap_splitcap_limit_refusals_total\\{limit="${limit}"[^}]*\\} (\\d+)`).exec(metrics)?.[1] ?? 0,
      );
    assert.equal(refusals('sessions-per-batch'), 1 + answers.filter((a) => a.status === 422).length);
    assert.equal(refusals('concurrent-uploads'), busy.length);

    const { pcap } = syntheticCapture([{ proto: 'udp', packets: 3 }], 19);
    const ok = await answer(await postBatch(splitcap.port, sender, 'after-floods', pcap));
    assert.equal(ok.status, 202, JSON.stringify(ok.body));
    assert.equal(ok.body.packetsStored, 3);
  });
});

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A free loopback port. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('Redis memory backpressure', () => {
  let redisServer: ChildProcess;
  let small: Redis;
  let guarded: RunningApp;
  const maxmemory = 4 * 2 ** 20;

  before(async () => {
    const port = await freePort();
    redisServer = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--maxmemory',
        String(maxmemory),
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: 'ignore' },
    );
    // Wait until the server accepts connections, then connect once (ioredis retries a failed connect by itself).
    for (let i = 0; !(await accepts(port)); i++) {
      if (i > 50) throw new Error(`redis-server on ${port} did not start`);
      await sleep(100);
    }
    small = new Redis({ port });
    await small.ping();
    guarded = await startApp('splitcap', {
      ...env,
      FLEETCAP_REDIS_URL: `redis://127.0.0.1:${port}`,
      FLEETCAP_SPLITCAP_REDIS_MEMORY_CHECK_MS: '50',
    });
    await untilHealthy(guarded.port);
  });

  after(async () => {
    await guarded?.stop();
    small?.disconnect();
    redisServer?.kill('SIGTERM');
  });

  test('uploads get 503 with Retry-After before Redis is full, and are taken again once memory is freed', async () => {
    let refused: Awaited<ReturnType<typeof answer>> | undefined;
    let stored = 0;
    for (let i = 0; i < 400 && !refused; i++) {
      const { pcap } = syntheticCapture(
        Array.from({ length: 20 }, () => ({ proto: 'tcp' as const, packets: 10 })),
        1000 + i,
      );
      const res = await answer(await postBatch(guarded.port, sender, `fill-${i}`, pcap));
      if (res.status === 202) stored++;
      else refused = res;
      await sleep(60);
    }
    assert.ok(refused, `never refused after ${stored} batches`);
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.equal(refused.retryAfter, '2');
    assert.match(String(refused.body.error), /over 80% of its maxmemory of 4194304 bytes/);
    const used = Number(/used_memory:(\d+)/.exec(await small.info('memory'))![1]);
    assert.ok(used < maxmemory, `Redis used ${used} of ${maxmemory}: the guard refused before it was full`);
    assert.ok(stored > 0);
    console.log(`private Redis of 4 MiB: ${stored} batches stored, then 503 at ${used} bytes used`);

    await small.flushall();
    await sleep(300);
    const { pcap } = syntheticCapture([{ proto: 'udp', packets: 2 }], 77);
    const again = await answer(await postBatch(guarded.port, sender, 'after-flush', pcap));
    assert.equal(again.status, 202, JSON.stringify(again.body));
  });
});

describe('capture times outside the window', () => {
  test('splitcap skips, counts and reports them, stores the rest, and agrees with fleetcap sessions', async () => {
    const baseUs = BigInt(Date.now() - 60_000) * 1000n;
    const frame = buildPacket({ proto: 'udp', src: '10.19.0.1', dst: '10.19.0.2', sport: 5019, dport: 53 });
    const file = new Pcapng()
      .shb()
      .idb(1)
      .idb(1, { tsoffset: 1n << 62n });
    for (let i = 0; i < 30; i++)
      file.epb(0, i === 24 ? 0xffffffff00000000n : i === 25 ? 0x7fffffffffffffffn : baseUs + BigInt(i) * 1000n, frame);
    file.epb(1, baseUs, buildPacket({ proto: 'udp', src: '10.19.0.1', dst: '10.19.0.2', sport: 6019, dport: 53 }));
    const pcapng = file.build();

    const res = await answer(await postBatch(splitcap.port, sender, 'bad-times', pcapng));
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const skipped = res.body.skipped as Record<string, number>;
    assert.equal(skipped['time-out-of-range'], 3);
    assert.equal(res.body.packetsStored, 24, 'the first 24 of the 28 good packets (the cap), none of the bad');
    const range = res.body.timeOutOfRange as { earliestSec: number; latestSec: number };
    assert.ok(range.earliestSec > Date.now() / 1000 + 86_400 && range.latestSec >= 4.6e18);

    const key = 'udp/10.19.0.1/5019/10.19.0.2/53';
    const meta = await redis.hgetall(sessionKeys({ agent: sender.agent, key }, prefix).meta);
    assert.equal(meta[META.first], String(baseUs));
    assert.equal(meta[META.last], String(baseUs + 29_000n), 'the bad times moved neither first nor last');
    assert.equal(
      await redis.exists(sessionKeys({ agent: sender.agent, key: 'udp/10.19.0.1/6019/10.19.0.2/53' }, prefix).meta),
      0,
    );

    const metrics = await (await fetch(`http://127.0.0.1:${splitcap.port}/metrics`)).text();
    assert.match(metrics, /fleetcap_splitcap_packets_total\{fate="skipped-time-out-of-range"[^}]*\} 3/);

    const dir = mkdtempSync(join(tmpdir(), 'bad-times-'));
    writeFileSync(join(dir, 'bad-times.pcapng'), pcapng);
    const lines = execFileSync(
      'node',
      [join(repoRoot, 'cli/bin/fleetcap.mjs'), 'sessions', '--json', join(dir, 'bad-times.pcapng')],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    )
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const sessions = lines.filter((l) => l.type === 'session');
    assert.deepEqual(
      sessions.map((x) => x.key),
      [key],
    );
    assert.equal(Math.round(sessions[0].first * 1e6), Number(baseUs));
    assert.equal(Math.round(sessions[0].last * 1e6), Number(baseUs + 29_000n));
    assert.equal(lines.find((l) => l.type === 'summary').skipped['time-out-of-range'], 3);
  });
});
