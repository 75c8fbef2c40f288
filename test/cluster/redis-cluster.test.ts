// The session store on a real Redis Cluster (stack/redis-cluster.sh: 3 masters, a replica each, the stack's ACL
// users): splitcap's appends, the worker's loads and finishes spread over every master, and a master killed with
// kill -9 while appends flow loses no acknowledged packet (appends wait for a replica, WAIT 1, before they count).
// A single-server client is refused with MOVED, which is why every app connects through lib/src/redis/connect.ts.
// The detectors' state spreads over every master, one script call per master and batch, with the in-memory
// engine's incidents.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { newestPerIncident } from '@fleetcap/detector/detection-writer';
import { RedisDetector } from '@fleetcap/detector/redis-detector';
import { loadConnections } from '@fleetcap/lib/config/connections';
import { defaultDetectorConfig } from '@fleetcap/lib/detectors/config';
import type { Detection } from '@fleetcap/lib/detectors/detection';
import { DetectorEngine } from '@fleetcap/lib/detectors/engine';
import { parseClusterNodes } from '@fleetcap/lib/redis/cluster-nodes';
import { connectRedis, masters, type RedisClient } from '@fleetcap/lib/redis/connect';
import { SessionFinisher } from '@fleetcap/lib/session-store/finisher';
import { encodePacketRecordTail, sessionKeys } from '@fleetcap/lib/session-store/layout';
import { loadSessions } from '@fleetcap/lib/session-store/reader';
import { type SessionAppend, SessionWriter } from '@fleetcap/lib/session-store/writer';
import { Redis } from 'ioredis';
import { fleetMix } from '../../bench/detectors/workloads.ts';
import { repoRoot, uniqueId } from '../helpers/stack.ts';

const script = join(repoRoot, 'stack', 'redis-cluster.sh');
function cluster(...args: string[]): string {
  const res = spawnSync('bash', [script, ...args], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(res.status, 0, `stack/redis-cluster.sh ${args.join(' ')}:\n${res.stdout}${res.stderr}`);
  return res.stdout;
}

const prefix = uniqueId('rc');
let nodes: ReturnType<typeof parseClusterNodes>;
let splitcapRedis: RedisClient;
let workerRedis: RedisClient;
let operatorRedis: RedisClient;
let detectorRedis: RedisClient;

/** n sessions of one agent, `packets` packets each, timestamps from `t0` µs. */
function sessions(n: number, packets: number, t0: number, tag: string): SessionAppend[] {
  return Array.from({ length: n }, (_, i) => {
    const args: (string | Buffer)[] = [];
    for (let p = 0; p < packets; p++) {
      const ts = String(t0 + p);
      args.push(ts, encodePacketRecordTail(p % 2 === 0 ? 0 : 1, ts, 60, 0, 0x10, 1));
    }
    return {
      key: `udp/10.${(i >> 8) & 255}.${i & 255}.1/53/10.9.${tag}.2/${40000 + (i % 20000)}`,
      communityId: `1:test-${tag}-${i}`,
      firstSide: 0,
      firstUs: t0,
      lastUs: t0 + packets - 1,
      bytes: 60 * packets,
      closing: false,
      packets,
      args,
    };
  });
}

before(() => {
  // Only the stack's secrets are needed (the cluster's nodes get the same ACL users): `stack.sh secrets` makes any
  // that are missing, as `up` does.
  spawnSync('bash', [join(repoRoot, 'stack', 'stack.sh'), 'secrets'], { stdio: 'ignore', timeout: 120_000 });
  cluster('up');
  nodes = parseClusterNodes(cluster('nodes').trim());
  const as = (service: 'splitcap' | 'session-worker' | 'operator' | 'detector') =>
    connectRedis(loadConnections(process.env, service).redisUrl, nodes, { maxRetriesPerRequest: 2 });
  splitcapRedis = as('splitcap');
  workerRedis = as('session-worker');
  operatorRedis = as('operator');
  detectorRedis = as('detector');
});

after(async () => {
  // The test's keys go; the cluster stops (its data stays for the next run, as the stack's does).
  for (const node of masters(operatorRedis)) {
    const keys = await node.keys(`${prefix}:*`).catch(() => [] as string[]);
    for (const k of keys) await node.del(k).catch(() => {});
  }
  for (const c of [splitcapRedis, workerRedis, operatorRedis, detectorRedis]) c?.disconnect();
  cluster('down');
});

describe('the session store on a Redis Cluster', () => {
  test('a batch of 300 sessions is stored across all three masters, loaded and finished by the worker', async () => {
    const writer = new SessionWriter(splitcapRedis, {
      prefix,
      maxPacketsPerSession: 24,
      sessionTtlSeconds: 600,
      receiptTtlSeconds: 600,
    });
    const batch = sessions(300, 3, 1_764_000_000_000_000, '1');
    const outcomes = await writer.append('agent-a', 'batch-1', batch);
    assert.equal(outcomes.length, 300);
    assert.deepEqual(new Set(outcomes.map((o) => o.status)), new Set(['ok']), 'every session stored');
    assert.equal(
      outcomes.reduce((n, o) => n + o.appended, 0),
      900,
      'every packet appended',
    );
    const perMaster = await Promise.all(masters(operatorRedis).map(async (m) => (await m.keys(`${prefix}:*`)).length));
    assert.equal(perMaster.length, 3, 'three masters');
    for (const n of perMaster) assert.ok(n > 0, `every master holds some of the sessions: ${perMaster.join(', ')}`);

    const again = await writer.append('agent-a', 'batch-1', batch);
    assert.deepEqual(new Set(again.map((o) => o.status)), new Set(['dup']), 'a retried batch is a duplicate');

    const messages = batch.map((s, i) => ({
      key: s.key,
      reason: 'full' as const,
      occurrence: outcomes[i]!.occurrence,
      agent: 'agent-a',
      communityId: s.communityId,
      enqueuedAt: Date.now(),
    }));
    const loaded = await loadSessions(workerRedis, prefix, messages);
    const kinds = loaded.map((l) => l.kind);
    assert.deepEqual(new Set(kinds), new Set(['session']), 'the worker loads every one');
    for (const l of loaded) if (l.kind === 'session') assert.equal(l.session.packets.length, 3);
    const finisher = new SessionFinisher(workerRedis, prefix, 600);
    await finisher.finish(messages.map((m) => ({ agent: m.agent, key: m.key, occurrence: m.occurrence })));
    const after = await loadSessions(workerRedis, prefix, messages);
    assert.deepEqual(new Set(after.map((l) => l.kind)), new Set(['skip']), 'finished: nothing left to classify');
  });

  test('a single-server client cannot use the cluster: the keys of other masters answer MOVED', async () => {
    const { redisUrl } = loadConnections(process.env, 'operator');
    const u = new URL(redisUrl);
    const single = new Redis({
      host: nodes![0]!.host,
      port: nodes![0]!.port,
      username: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
      maxRetriesPerRequest: 0,
    });
    try {
      let moved = 0;
      for (let i = 0; i < 20; i++) {
        await single.get(`${prefix}:probe:{${i}}`).catch((e: Error) => {
          if (/^MOVED /.test(e.message)) moved++;
        });
      }
      assert.ok(moved > 0, 'some keys live on another master');
    } finally {
      single.disconnect();
    }
  });

  test('kill -9 of a master while appends flow: every acknowledged packet is still stored after the failover', {
    timeout: 180_000,
  }, async () => {
    const writer = new SessionWriter(splitcapRedis, {
      prefix,
      maxPacketsPerSession: 1000,
      sessionTtlSeconds: 600,
      receiptTtlSeconds: 600,
      waitReplicas: 1,
      waitTimeoutMs: 500,
    });
    const acked = new Map<string, number>();
    let refused = 0;
    let round = 0;
    const t0 = 1_764_100_000_000_000;
    const appendRound = async () => {
      round++;
      // The same 200 sessions each round, one packet more each: a lost append shows as a missing packet.
      const batch = sessions(200, 1, t0 + round, '2');
      try {
        const out = await writer.append('agent-b', `kill-${round}`, batch);
        for (const o of out) if (o.status === 'ok') acked.set(o.key, (acked.get(o.key) ?? 0) + o.appended);
      } catch {
        refused++; // splitcap answers 503: the agent keeps the batch and sends it again
      }
    };
    for (let i = 0; i < 10; i++) await appendRound();
    const victim = masterNumber(
      await masterOf(sessionKeys({ agent: 'agent-b', key: sessions(1, 1, 0, '2')[0]!.key }, prefix).packets),
    );
    cluster('kill', String(victim));
    const killedAt = Date.now();
    while (Date.now() - killedAt < 12_000) {
      await appendRound();
      await sleep(50);
    }
    cluster('start', String(victim));
    for (let i = 0; i < 10; i++) await appendRound();

    const stored = await Promise.all(
      [...acked.keys()].map(async (key) => {
        return [key, await operatorRedis.zcard(sessionKeys({ agent: 'agent-b', key }, prefix).packets)] as const;
      }),
    );
    const lost = stored.filter(([key, n]) => n < acked.get(key)!);
    console.log(
      `# ${round} rounds, ${refused} refused during the failover, ${[...acked.values()].reduce((a, b) => a + b, 0)} packets acknowledged, ${lost.length} sessions short`,
    );
    assert.ok(refused > 0, 'the failover was seen (some rounds refused)');
    // A store that refuses every append would lose nothing acknowledged: the check means something only past this.
    assert.ok(refused < round, `some rounds were acknowledged: ${refused} of ${round} refused`);
    assert.deepEqual(lost, [], 'no acknowledged packet lost');
  });
});

async function masterOf(key: string): Promise<string> {
  const slot = Number(await operatorRedis.cluster('KEYSLOT', key));
  const shards = (await operatorRedis.cluster('SLOTS')) as unknown as Array<[number, number, [string, number]]>;
  const owner = shards.find(([from, to]) => slot >= from && slot <= to);
  assert.ok(owner, `slot ${slot} is served`);
  return `${owner[2][0]}:${owner[2][1]}`;
}

function masterNumber(address: string): number {
  const i = nodes!.findIndex((n) => `${n.host}:${n.port}` === address);
  assert.ok(i >= 0, `${address} is one of the cluster's nodes`);
  return i + 1;
}

describe('the detectors on a Redis Cluster', () => {
  test("one script call per master and batch: state on every master, the in-memory engine's incidents", async () => {
    // Scans, a SYN flood, brute force and conversations, as the bench's fleet mix (bench/detectors/workloads.ts).
    const sessions = fleetMix(6000, 3);
    const config = defaultDetectorConfig();
    const engine = new DetectorEngine(config);
    for (const s of sessions) engine.process(s);
    const detector = new RedisDetector(detectorRedis, prefix);
    const seen: Detection[] = [];
    for (let i = 0; i < sessions.length; i += 512)
      seen.push(...(await detector.process(sessions.slice(i, i + 512), config)).detections);
    const summary = (d: Detection) => [
      d.sessions,
      d.peakCount,
      d.distinctTargets,
      [...d.evidence].sort(),
      d.lastSeenUs,
    ];
    const fromRedis = new Map(newestPerIncident(seen).map((d) => [d.id, summary(d)]));
    const fromEngine = new Map(engine.detections().map((d) => [d.id, summary(d)]));
    assert.ok(fromEngine.size >= 5, `incidents of several detectors: ${[...fromEngine.keys()].join(' ')}`);
    assert.deepEqual([...fromRedis.keys()].sort(), [...fromEngine.keys()].sort());
    for (const [id, d] of fromEngine) assert.deepEqual(fromRedis.get(id), d, id);
    const perMaster = await Promise.all(
      masters(operatorRedis).map(async (node) => (await node.keys(`${prefix}:det:*`)).length),
    );
    assert.equal(perMaster.length, 3);
    assert.ok(
      perMaster.every((n) => n > 0),
      `state hashes on every master: ${perMaster.join(' ')}`,
    );
  });
});
