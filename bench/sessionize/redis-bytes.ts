// Redis bytes per session, before and after the session record (issue 17, "Redis bytes per session before/after";
// issue 20 part 4, "Redis bytes per active session against the packet bytes it stores"): one capture uploaded to a
// real splitcap of this checkout and, with --baseline DIR, to the splitcap of a checkout of before issue 17, each
// under its own Redis prefix on the stack's Redis, no worker running (every session stays active). Then
// MEMORY USAGE (exact: SAMPLES 0) of every key of the prefix, by kind, per session; and INFO's used_memory before
// and after, over the sessions.
//   export FLEETCAP_STACK_HOME=/work/main/.stack
//   flock -o /tmp/fleetcap-integration.lock node --import tsx --conditions=fleetcap-source \
//     bench/sessionize/redis-bytes.ts [--baseline DIR] [--capture FILE] [--out DIR]
// The capture defaults to the Ethernet packets of ../shared/pcaps/zeek (build-capture.ts), uploaded in batches of
// --batch packets (default 5,000), as an agent's sniffer would.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { SESSION_MAX_PACKETS } from '@fleetcap/lib/features/features';
import { readCaptureBuffer } from '@fleetcap/lib/pcap/reader';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { SOURCE_EXEC_ARGV } from '@fleetcap/lib/runtime/entry';
import { Sessionizer } from '@fleetcap/lib/session/sessionizer';
import { Redis } from 'ioredis';
import { redisKeysWithPrefix, removePipelineNamespace } from '../../test/helpers/namespace.ts';
import { startApp } from '../../test/helpers/processes.ts';
import { connections } from '../../test/helpers/stack.ts';
import { postBatch } from '../../test/helpers/upload.ts';
import { buildLargeCapture, captureFilesUnder } from './build-capture.ts';

const root = new URL('../../', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    baseline: { type: 'string' },
    capture: { type: 'string' },
    batch: { type: 'string', default: '5000' },
    out: { type: 'string', default: join(root, 'bench/sessionize') },
    pcaps: { type: 'string', default: resolve(root, '../shared/pcaps') },
  },
});
const baseline = values.baseline ? resolve(values.baseline) : undefined;
const batchPackets = Number(values.batch);
const agent = 'bench-redis-bytes';
const token = 'bench-redis-bytes-token';

function captureFile(): string {
  if (values.capture) return resolve(values.capture);
  const file = join(tmpdir(), 'fleetcap-bench-sessionize', 'corpus-zeek.pcap');
  if (!existsSync(file)) {
    mkdirSync(join(tmpdir(), 'fleetcap-bench-sessionize'), { recursive: true });
    buildLargeCapture(captureFilesUnder(join(values.pcaps!, 'zeek')), file);
  }
  return file;
}

/** The capture as pcap batches of batchPackets packets each. */
function batches(file: string): Buffer[] {
  const out: Buffer[] = [];
  let writer: PcapWriter | undefined;
  for (const p of readCaptureBuffer(readFileSync(file))) {
    writer ??= new PcapWriter({ linktype: p.linktype, nanosecond: true });
    writer.write({ tsSec: p.tsSec, tsNsec: p.tsNsec, data: p.data, origLen: p.origLen });
    if (writer.packetCount === batchPackets) {
      out.push(writer.toBuffer());
      writer = undefined;
    }
  }
  if (writer) out.push(writer.toBuffer());
  return out;
}

/** Captured bytes of the packets the store keeps (the first SESSION_MAX_PACKETS of each session). */
function storedPacketBytes(file: string): { sessions: number; bytes: number } {
  const sessionizer = new Sessionizer();
  const parser = readCaptureBuffer(readFileSync(file));
  let bytes = 0;
  for (const p of parser) {
    const session = sessionizer.add(p);
    if (session && session.packets <= SESSION_MAX_PACKETS) {
      bytes += p.caplen;
    }
  }
  return { sessions: sessionizer.sessions.size, bytes };
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

interface Splitcap {
  port: number;
  stop(): Promise<unknown>;
}

/** The splitcap of the checkout before issue 17: it sends no ready signal, so its /healthz is polled. */
async function startBaselineSplitcap(env: Record<string, string>): Promise<Splitcap> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    [...SOURCE_EXEC_ARGV, join(baseline!, 'apps/splitcap/src/main.ts')],
    { cwd: baseline, env: { ...process.env, ...env, FLEETCAP_SPLITCAP_PORT: String(port) }, stdio: 'pipe' },
  );
  let output = '';
  child.stdout?.on('data', (c) => (output += c));
  child.stderr?.on('data', (c) => (output += c));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill();
      throw new Error(`the baseline splitcap did not become healthy:\n${output}`);
    }
    await sleep(200);
  }
  return {
    port,
    stop: () =>
      new Promise((done) => {
        child.once('exit', done);
        child.kill('SIGTERM');
      }),
  };
}

interface Measured {
  version: string;
  sessions: number;
  packetsStored: number;
  bytesByKind: Record<string, number>;
  sessionBytes: number;
  usedMemoryDelta: number;
}

async function measure(version: string, start: (env: Record<string, string>) => Promise<Splitcap>): Promise<Measured> {
  const prefix = `rb${process.pid}${version === 'current' ? 'c' : 'b'}`;
  const env = {
    FLEETCAP_SPLITCAP_TOKENS: `${agent}=${token}`,
    FLEETCAP_REDIS_PREFIX: prefix,
    FLEETCAP_QUEUE_PREFIX: prefix,
    FLEETCAP_SPLITCAP_MAX_READY_DEPTH: '100000000',
    FLEETCAP_LOG_LEVEL: 'warn',
  };
  const redis = new Redis(connections.redisUrl);
  const splitcap = await start(env);
  try {
    const usedBefore = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
    let packetsStored = 0;
    let i = 0;
    for (const body of batches(capture)) {
      const res = await postBatch(splitcap.port, { agent, token }, `bytes-${i++}`, body);
      const answer = (await res.json()) as { packetsStored?: number };
      if (res.status !== 202) throw new Error(`${version} splitcap answered ${res.status}: ${JSON.stringify(answer)}`);
      packetsStored += answer.packetsStored ?? 0;
    }
    const usedAfter = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
    const keys = await redisKeysWithPrefix(redis, prefix);
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
    const usage = (await pipeline.exec())!.map(([error, bytes]) => (error ? 0 : Number(bytes)));
    const bytesByKind: Record<string, number> = {};
    let sessions = 0;
    let sessionBytes = 0;
    keys.forEach((key, k) => {
      const kind = key.startsWith(`${prefix}:s:`) ? `session :${key.slice(key.lastIndexOf(':') + 1)}` : 'other';
      bytesByKind[kind] = (bytesByKind[kind] ?? 0) + usage[k]!;
      if (kind !== 'other') sessionBytes += usage[k]!;
      if (kind === 'session :m') sessions++;
    });
    return { version, sessions, packetsStored, bytesByKind, sessionBytes, usedMemoryDelta: usedAfter - usedBefore };
  } finally {
    await splitcap.stop();
    redis.disconnect();
    await removePipelineNamespace(prefix);
  }
}

const capture = captureFile();
const stored = storedPacketBytes(capture);
const results: Measured[] = [];
if (baseline) results.push(await measure('before #17', startBaselineSplitcap));
results.push(await measure('current', (env) => startApp('splitcap', { FLEETCAP_SPLITCAP_PORT: '0', ...env })));

const kinds = [...new Set(results.flatMap((r) => Object.keys(r.bytesByKind)))].sort();
const perSession = (r: Measured, bytes: number) => (r.sessions > 0 ? bytes / r.sessions : 0);
const lines = [
  '# Redis bytes per session (bench/sessionize/redis-bytes.ts)',
  '',
  `Capture: ${capture} uploaded in batches of ${batchPackets} packets; ${stored.sessions} sessions by the offline`,
  `sessionizer, whose first ${SESSION_MAX_PACKETS} packets (what the store keeps) hold ${stored.bytes} captured bytes in all`,
  `(${(stored.bytes / stored.sessions).toFixed(0)} per session). MEMORY USAGE (SAMPLES 0) per key, summed by kind; no`,
  'worker runs, so every session is active.',
  '',
  `| version | sessions | packets stored | bytes per session (all session keys) | ${kinds.map((k) => `${k} per session`).join(' | ')} | used_memory delta per session | ÷ stored packet bytes |`,
  `|---|---|---|---|${kinds.map(() => '---|').join('')}---|---|`,
  ...results.map(
    (r) =>
      `| ${r.version} | ${r.sessions} | ${r.packetsStored} | ${perSession(r, r.sessionBytes).toFixed(0)} | ` +
      kinds.map((k) => perSession(r, r.bytesByKind[k] ?? 0).toFixed(0)).join(' | ') +
      ` | ${perSession(r, r.usedMemoryDelta).toFixed(0)} | ${(r.sessionBytes / stored.bytes).toFixed(2)} |`,
  ),
  '',
];
if (results.length === 2) {
  const [before, after] = results as [Measured, Measured];
  lines.push(
    `After/before, bytes per session: ${(perSession(after, after.sessionBytes) / perSession(before, before.sessionBytes)).toFixed(2)}.`,
    '',
  );
}
const table = lines.join('\n');
console.log(table);
mkdirSync(resolve(values.out!), { recursive: true });
writeFileSync(join(resolve(values.out!), 'REDIS-BYTES.md'), table);
