// splitcap's upload limits against the real Redis and RabbitMQ (issue 19): the 63 MiB flood of 1,138,971
// single-packet UDP flows that used to grow splitcap to 4.5 GB and kill it gets a 422 that says what to do, within
// bounded memory, also with eight such uploads at once (the ninth and later wait with 503 busy + Retry-After), and
// splitcap stays up and keeps storing ordinary batches. A private redis-server with a small maxmemory shows the
// memory backpressure: uploads get 503 before Redis itself refuses a write.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { FLOOD_FLOWS, floodCapture } from '../helpers/flood-capture.ts';
import { redisKeysWithPrefix, removePipelineNamespace } from '../helpers/namespace.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { assertStackUp, connections, uniqueId } from '../helpers/stack.ts';
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

before(async () => {
  assertStackUp();
  redis = new Redis(connections.redisUrl);
  splitcap = await startApp('splitcap', env);
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
    small = new Redis({ port, lazyConnect: true });
    for (let i = 0; ; i++) {
      try {
        await small.connect();
        break;
      } catch (err) {
        if (i > 50) throw err;
        await sleep(100);
      }
    }
    guarded = await startApp('splitcap', {
      ...env,
      FLEETCAP_REDIS_URL: `redis://127.0.0.1:${port}`,
      FLEETCAP_SPLITCAP_REDIS_MEMORY_CHECK_MS: '50',
    });
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
