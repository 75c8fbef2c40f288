// The append path alone, before and after issue 20's packing (one append-sessions.lua call per batch, one packed
// argument per session), in the same run, alternating: CPU of this process (ioredis encoding) and of redis-server per
// 1,000 packets stored. The "before" writer is the per-session call of append-session-5.lua as of --baseline-rev,
// read from git. Batches as bench/splitcap-ingest/run.ts sends them: 50 new sessions of 20 packets.
//   node --import tsx --conditions=fleetcap-source bench/splitcap-ingest/append-ab.ts [--baseline-rev 27f8d5c] [--rounds 5] [--batches 200]
// Needs the stack's Redis; uses a prefix of its own, removed after.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { encodePacketRecordTail, sessionKeys } from '@fleetcap/lib/session-store/layout';
import { type SessionAppend, SessionWriter } from '@fleetcap/lib/session-store/writer';
import { Redis } from 'ioredis';
import { redisKeysWithPrefix } from '../../test/helpers/namespace.ts';
import { connections, repoRoot } from '../../test/helpers/stack.ts';

const { values } = parseArgs({
  options: {
    'baseline-rev': { type: 'string', default: '27f8d5c' },
    rounds: { type: 'string', default: '5' },
    batches: { type: 'string', default: '200' },
  },
});
const rounds = Number(values.rounds);
const batches = Number(values.batches);
const oldScript = execFileSync(
  'git',
  ['show', `${values['baseline-rev']}:lib/src/session-store/append-session-5.lua`],
  {
    cwd: repoRoot,
    encoding: 'utf8',
  },
);
if (!oldScript.includes('local given = (#ARGV - 11) / 2'))
  throw new Error(`${values['baseline-rev']}'s append script is not the per-packet-arguments one`);

const redis = new Redis(connections.redisUrl);
const redisPid = Number(/^process_id:(\d+)/m.exec(await redis.info('server'))?.[1]);
redis.defineCommand('appendSessionBefore', { numberOfKeys: 5, lua: oldScript });
const cpu = (pid: number | 'self') => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(x[11]) + Number(x[12])) / 100;
};
const prefix = `benchab${process.pid}`;
const settings = { prefix, maxPacketsPerSession: 24, sessionTtlSeconds: 600, receiptTtlSeconds: 60 };
const writer = new SessionWriter(redis, settings);

function batch(seed: number): SessionAppend[] {
  return Array.from({ length: 50 }, (_, i) => {
    const args: (string | Buffer)[] = [];
    const t0 = 1732451234567890 + seed * 1000;
    for (let p = 0; p < 20; p++) {
      const ts = String(t0 + p * 10);
      const frame = Buffer.alloc(54 + (p < 2 ? 0 : 10 + ((p * 37) % 200)), p);
      args.push(ts, encodePacketRecordTail(p % 2 === 0 ? 0 : 1, ts, frame.length, frame.length - 54, 0x18, 1, frame));
    }
    return {
      key: `tcp/10.${(seed >> 8) & 255}.${seed & 255}.${i + 1}/40000/192.0.2.10/443`,
      communityId: `1:ab${seed}-${i}`,
      firstSide: 0,
      firstUs: t0,
      lastUs: t0 + 190,
      bytes: 3000,
      closing: false,
      packets: 20,
      args,
    };
  });
}

/** As writer.ts appended before: one append-session-5.lua call per session, two arguments per packet, one pipeline. */
async function appendBefore(agent: string, batchId: string, sessions: SessionAppend[]): Promise<number> {
  const pipeline = redis.pipeline();
  for (const s of sessions) {
    const k = sessionKeys({ agent, key: s.key }, prefix);
    (pipeline as unknown as Record<string, (...a: unknown[]) => void>).appendSessionBefore!(
      k.packets,
      k.meta,
      k.batches,
      k.done,
      k.record,
      batchId,
      agent,
      '24',
      '600',
      String(s.firstSide),
      String(s.firstUs),
      String(s.lastUs),
      String(s.bytes),
      s.closing ? '1' : '0',
      s.communityId,
      String(s.packets),
      ...s.args,
    );
  }
  const results = (await pipeline.exec()) ?? [];
  let stored = 0;
  for (const [err, value] of results) {
    if (err) throw err;
    stored += (value as [string, number])[1];
  }
  return stored;
}

async function appendAfter(agent: string, batchId: string, sessions: SessionAppend[]): Promise<number> {
  return (await writer.append(agent, batchId, sessions)).reduce((n, o) => n + o.appended, 0);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results = {
  before: { client: [] as number[], redis: [] as number[] },
  after: { client: [] as number[], redis: [] as number[] },
};
let seed = 0;
for (let round = 0; round < rounds + 1; round++) {
  for (const [name, append] of [
    ['before', appendBefore],
    ['after', appendAfter],
  ] as const) {
    const prepared = Array.from({ length: batches }, () => batch(seed++));
    const c0 = cpu('self');
    const r0 = cpu(redisPid);
    let stored = 0;
    // Four batches in flight, as splitcap's four concurrent uploads.
    for (let i = 0; i < prepared.length; i += 4)
      stored += (
        await Promise.all(prepared.slice(i, i + 4).map((b, j) => append('ab', `${name}${round}-${i + j}`, b)))
      ).reduce((a, b) => a + b, 0);
    if (stored !== batches * 1000) throw new Error(`${name}: stored ${stored} packets, not ${batches * 1000}`);
    // Round 0 warms both up (JIT, script cache) and is not counted.
    if (round > 0) {
      results[name].client.push(((cpu('self') - c0) * 1e6) / stored);
      results[name].redis.push(((cpu(redisPid) - r0) * 1e6) / stored);
    }
    const keys = await redisKeysWithPrefix(redis, prefix);
    for (let i = 0; i < keys.length; i += 5000) await redis.unlink(...keys.slice(i, i + 5000));
  }
}
const f = (x: number) => x.toFixed(2);
console.log(
  `| append path, CPU ms per 1,000 packets (median of ${rounds}) | before (${values['baseline-rev']}) | after | after/before |`,
);
console.log('|---|---|---|---|');
for (const who of ['client', 'redis'] as const) {
  const b = median(results.before[who]);
  const a = median(results.after[who]);
  console.log(`| ${who === 'client' ? 'this process (ioredis)' : 'redis-server'} | ${f(b)} | ${f(a)} | ${f(a / b)} |`);
}
const tb = median(results.before.client.map((c, i) => c + results.before.redis[i]!));
const ta = median(results.after.client.map((c, i) => c + results.after.redis[i]!));
console.log(`| both | ${f(tb)} | ${f(ta)} | ${f(ta / tb)} |`);
console.log(`| load average (1 min) at the end | ${loadavg()[0]!.toFixed(1)} | | |`);
await redis.quit();
