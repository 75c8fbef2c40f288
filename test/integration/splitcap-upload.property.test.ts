// A fuzz of a real splitcap's upload endpoint (fast-check): captures (small traces of the shared Zeek corpus, a
// synthetic pcap, a pcapng) mutated by byte flips, overwritten header fields (lengths, magic, link type, times),
// cuts, inserted and repeated ranges, are POSTed one after another. Every answer must be 202, or a 4xx with a
// reason; never a 5xx, a crash or a hang. Afterwards splitcap and a session-worker are healthy, the queues drain
// (nothing wedged: whatever the worker cannot classify is dead-lettered with its reason) and Redis holds no session
// keys and has not grown. Cases: 600 in CI (with the unit property tests, over 10,000 in all); the long mode
// (`npm run fuzz`, FLEETCAP_FUZZ_RUNS set) runs FLEETCAP_UPLOAD_FUZZ_RUNS, default 20,000.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sessionQueueNames } from '@fleetcap/lib/queue/topology';
import { fuzzParameters } from '@fleetcap/lib/testing/fuzz';
import amqp from 'amqplib';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { redisKeysWithPrefix, removePipelineNamespace } from '../helpers/namespace.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { assertStackUp, connections, uniqueId } from '../helpers/stack.ts';
import { syntheticCapture } from '../helpers/synthetic-sessions.ts';
import { postBatch } from '../helpers/upload.ts';

const prefix = uniqueId('fz').replace(/[^A-Za-z0-9]/g, '');
const agent = uniqueId('fzagent').slice(0, 60);
const token = 'upload-fuzz-token-0123456789';
const DELAY_MS = 500;
const longMode = (process.env.FLEETCAP_FUZZ_RUNS ?? '') !== '';
const cases = longMode ? Number(process.env.FLEETCAP_UPLOAD_FUZZ_RUNS ?? 20_000) : 600;

const zeek = '/work/shared/pcaps/zeek';
const sharedDir = existsSync(zeek) ? zeek : join(import.meta.dirname, '../../../shared/pcaps/zeek');
function seedCaptures(): Buffer[] {
  const seeds = [
    syntheticCapture(
      [
        { proto: 'tcp', packets: 30, close: true },
        { proto: 'udp', packets: 4 },
      ],
      7,
    ).pcap,
  ];
  if (existsSync(sharedDir)) {
    const small = readdirSync(sharedDir)
      .filter((f) => /\.pcap(ng)?$/.test(f) && statSync(join(sharedDir, f)).size < 16_384)
      .sort()
      .slice(0, 24);
    for (const f of small) seeds.push(readFileSync(join(sharedDir, f)));
  }
  return seeds;
}
const seeds = seedCaptures();

type Mutation =
  | { kind: 'flip'; at: number; value: number }
  | { kind: 'u32'; at: number; value: number }
  | { kind: 'cut'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'repeat'; at: number; length: number; times: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    kind: fc.constant('u32' as const),
    // Header fields sit at the start of the file and of each record: bias offsets there.
    at: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.nat()),
    value: fc.oneof(
      fc.constantFrom(0, 1, 0xffffffff, 0x7fffffff, 0x80000000, 65535, 65536, 0x0a0d0d0a, 0xa1b2c3d4, 0x1a2b3c4d),
      fc.nat(),
    ),
  }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({
    kind: fc.constant('repeat' as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 512 }),
    times: fc.integer({ min: 1, max: 20 }),
  }),
);

function mutate(base: Buffer, mutations: Mutation[]): Buffer {
  let b = Buffer.from(base);
  for (const m of mutations) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.kind === 'flip') b[at] = m.value;
    else if (m.kind === 'u32' && at + 4 <= b.length) b.writeUInt32LE(m.value >>> 0, at);
    else if (m.kind === 'cut') b = b.subarray(0, at);
    else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    else if (m.kind === 'repeat') {
      const piece = b.subarray(at, at + m.length);
      b = Buffer.concat([b.subarray(0, at), ...Array.from({ length: m.times }, () => piece), b.subarray(at)]);
    }
  }
  return b;
}

let splitcap: RunningApp;
let forecast: RunningApp;
let worker: RunningApp;
let redis: Redis;
let memoryBefore = 0;

const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0);

before(async () => {
  assertStackUp();
  redis = new Redis(connections.redisUrl);
  memoryBefore = await usedMemory();
  const common = { FLEETCAP_REDIS_PREFIX: prefix, FLEETCAP_QUEUE_PREFIX: prefix };
  forecast = await startApp('forecast', { FLEETCAP_FORECAST_PORT: '0' }, 60_000);
  splitcap = await startApp(
    'splitcap',
    {
      ...common,
      FLEETCAP_SPLITCAP_PORT: '0',
      FLEETCAP_SPLITCAP_CREDENTIALS: 'tokens',
      FLEETCAP_SPLITCAP_TOKENS: `${agent}=${token}`,
      FLEETCAP_SESSION_DELAY_MS: String(DELAY_MS),
      // Small enough that a mutated length field that multiplies the body is refused (413), as a flood would be.
      FLEETCAP_SPLITCAP_MAX_BODY_BYTES: String(4 * 1024 * 1024),
    },
    60_000,
  );
  worker = await startApp(
    'session-worker',
    {
      ...common,
      FLEETCAP_FORECAST_URL: `http://127.0.0.1:${forecast.port}`,
      FLEETCAP_WORKER_PORT: '0',
      FLEETCAP_WORKER_BATCH_MS: '20',
      FLEETCAP_DONE_TTL_SECONDS: '2',
      FLEETCAP_RECORD_SWEEP_MS: '500',
      FLEETCAP_TCP_INACTIVITY_TIMEOUT_S: '1',
      FLEETCAP_UDP_INACTIVITY_TIMEOUT_S: '1',
    },
    60_000,
  );
});

after(async () => {
  await Promise.all([splitcap?.stop(), worker?.stop(), forecast?.stop()]);
  redis?.disconnect();
  await removePipelineNamespace(prefix, DELAY_MS, 500);
});

const statuses = new Map<number, number>();

test(`${cases} mutated captures: 202 or a 4xx with a reason, never a 5xx; splitcap and the worker stay well`, {
  timeout: longMode ? 24 * 3600_000 : 280_000,
}, async (t) => {
  t.diagnostic(`${seeds.length} seed captures, ${cases} cases`);
  let n = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: seeds.length - 1 }),
      fc.array(mutation, { minLength: 1, maxLength: 6 }),
      async (which, mutations) => {
        const body = mutate(seeds[which]!, mutations);
        const res = await postBatch(splitcap.port, { agent, token }, `fz-${n++}`, body);
        const text = await res.text();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        assert.ok(
          res.status === 202 || (res.status >= 400 && res.status < 500),
          `${res.status}: ${text.slice(0, 300)}`,
        );
        if (res.status !== 202) {
          const reason = (JSON.parse(text) as { error?: string }).error ?? '';
          assert.ok(reason.length > 10, `a ${res.status} says what is wrong: ${text.slice(0, 300)}`);
        }
        assert.equal(splitcap.child.exitCode, null, 'splitcap is running');
      },
    ),
    { ...fuzzParameters(cases), numRuns: cases },
  );
  t.diagnostic(`answers: ${[...statuses].map(([s, c]) => `${s}: ${c}`).join(', ')}`);
  assert.ok((statuses.get(202) ?? 0) > cases / 20, 'some mutated captures are still captures and are stored');

  // Nothing wedged: the ready and delay queues drain, no session key is left, both apps say they are healthy.
  const queues = sessionQueueNames(prefix, DELAY_MS);
  const conn = await amqp.connect(connections.amqpUrl);
  const ch = await conn.createChannel();
  // A dead-lettered message keeps its session in Redis (until its TTL) so that it can be replayed: those keys are
  // expected; every dead letter must carry its reason.
  const deadSessions = new Set<string>();
  const reasons = new Map<string, number>();
  const readDead = async () => {
    for (let m = await ch.get(queues.dead); m !== false; m = await ch.get(queues.dead)) {
      const reason = String(m.properties.headers?.['x-fleetcap-reason'] ?? '');
      assert.ok(reason.length > 10, `a dead letter says why: ${m.content.toString().slice(0, 200)}`);
      const short = reason.replace(/\d+/g, 'N').slice(0, 120);
      reasons.set(short, (reasons.get(short) ?? 0) + 1);
      const body = JSON.parse(m.content.toString()) as { agent: string; key: string };
      deadSessions.add(`{${body.agent}/${body.key}}`);
      ch.ack(m);
    }
  };
  const deadline = Date.now() + 60_000;
  let left = { ready: -1, delay: -1, keys: -1 };
  while (Date.now() < deadline) {
    await readDead();
    left = {
      ready: (await ch.checkQueue(queues.ready)).messageCount,
      delay: (await ch.checkQueue(queues.delay)).messageCount,
      keys: (await redisKeysWithPrefix(redis, prefix, 's:*')).filter(
        (k) => !k.endsWith(':d') && ![...deadSessions].some((d) => k.includes(d)),
      ).length,
    };
    if (left.ready === 0 && left.delay === 0 && left.keys === 0) break;
    await sleep(500);
  }
  await conn.close();
  t.diagnostic(`dead-lettered with a reason: ${deadSessions.size} sessions`);
  for (const [reason, n] of reasons) t.diagnostic(`  ${n} × ${reason}`);
  assert.deepEqual(left, { ready: 0, delay: 0, keys: 0 }, 'queues drained, no session left in Redis');
  for (const app of [splitcap, worker]) {
    const health = (await (await fetch(`http://127.0.0.1:${app.port}/healthz`)).json()) as { ok: boolean };
    assert.equal(health.ok, true, JSON.stringify(health));
  }
  const grown = (await usedMemory()) - memoryBefore;
  assert.ok(grown < 64 * 1024 * 1024, `Redis grew by ${grown} bytes`);
});
