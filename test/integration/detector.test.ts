// The detector stage with the real Redis, RabbitMQ and MariaDB: verdict events of a horizontal scan spread over
// three agents, consumed by two detector replicas, are one detection row that lists every agent; a threshold
// changed with SQL takes effect without a restart; a bad event is counted and the rest goes on. Then the whole path:
// probes uploaded by three agents through splitcap, classified by session-workers (which publish every committed
// verdict) and detected as one horizontal scan.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { newestPerIncident } from '@fleetcap/detector/detection-writer';
import { CLUSTER_BUCKETS, generationMs, RedisDetector, stateKey } from '@fleetcap/detector/redis-detector';
import { defaultDetectorConfig } from '@fleetcap/lib/detectors/config';
import type { Detection } from '@fleetcap/lib/detectors/detection';
import type { DetectorSession } from '@fleetcap/lib/detectors/detector-session';
import { DetectorEngine } from '@fleetcap/lib/detectors/engine';
import { syntheticSession } from '@fleetcap/lib/detectors/synthetic';
import { detectorDeadQueueName, encodeVerdictEvent, verdictExchangeName } from '@fleetcap/lib/detectors/verdict-event';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { TCP_ACK, TCP_RST, TCP_SYN } from '@fleetcap/lib/packet/decode';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import type mysql from 'mysql2/promise';
import { removePipelineNamespace } from '../helpers/namespace.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { assertStackUp, connections, mysqlAs, uniqueId } from '../helpers/stack.ts';
import { postBatch } from '../helpers/upload.ts';

const prefix = uniqueId('det').replace(/[^A-Za-z0-9]/g, '');
/** Addresses of this run (198.18.0.0/15 is for benchmarking; nothing is sent). */
const run = Math.floor(Math.random() * 250) + 1;
const addr = (subnet: number, host: number) => `198.${18 + (subnet >> 8)}.${subnet & 255}.${host}`;
const agents = ['det-agent-a', 'det-agent-b', 'det-agent-c'].map((a) => `${a}-${run}`);

let admin: mysql.Connection;
let amqpConn: amqp.ChannelModel;
let channel: amqp.ConfirmChannel;
const detectors: RunningApp[] = [];
const sources: string[] = [];
let originalVertical: Record<string, unknown>;

const detectorEnv = () => ({
  FLEETCAP_REDIS_PREFIX: prefix,
  FLEETCAP_QUEUE_PREFIX: prefix,
  FLEETCAP_DETECTOR_PORT: '0',
  FLEETCAP_DETECTOR_BATCH_MS: '20',
  FLEETCAP_DETECTOR_CONFIG_REFRESH_MS: '300',
});

async function publish(bodies: Buffer[]): Promise<void> {
  for (const body of bodies) channel.publish(verdictExchangeName(prefix), '', body, { persistent: true });
  await channel.waitForConfirms();
}

interface DetectionRow {
  detector: string;
  source_addr: string | null;
  target: string;
  sessions: number;
  distinct_targets: number;
  agents: string[] | string;
  evidence: string[] | string;
  version: number;
}

async function rowsOf(source: string): Promise<DetectionRow[]> {
  const [rows] = await admin.query('SELECT * FROM detection WHERE source_addr = ? ORDER BY id', [source]);
  return (rows as DetectionRow[]).map((r) => ({
    ...r,
    agents: typeof r.agents === 'string' ? JSON.parse(r.agents) : r.agents,
    evidence: typeof r.evidence === 'string' ? JSON.parse(r.evidence) : r.evidence,
  }));
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function metric(app: RunningApp, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) total += Number(line.split(' ').pop());
  return total;
}

async function sumMetric(name: string): Promise<number> {
  let total = 0;
  for (const d of detectors) total += await metric(d, name);
  return total;
}

before(async () => {
  assertStackUp();
  admin = await mysqlAs('admin', { database: connections.mysql.database });
  const [config] = await admin.query("SELECT * FROM detector_config WHERE detector = 'vertical_scan'");
  originalVertical = (config as Array<Record<string, unknown>>)[0]!;
  amqpConn = await amqp.connect(connections.amqpUrl);
  channel = await amqpConn.createConfirmChannel();
  detectors.push(await startApp('detector', detectorEnv()), await startApp('detector', detectorEnv()));
});

after(async () => {
  await Promise.all(detectors.map((d) => d.stop()));
  if (originalVertical) {
    await admin.query("UPDATE detector_config SET threshold = ? WHERE detector = 'vertical_scan'", [
      originalVertical.threshold,
    ]);
  }
  if (sources.length > 0) await admin.query('DELETE FROM detection WHERE source_addr IN (?)', [sources]);
  await channel?.deleteQueue(`${prefix}.detector`).catch(() => {});
  await channel?.deleteQueue(detectorDeadQueueName(prefix)).catch(() => {});
  await channel?.deleteExchange(verdictExchangeName(prefix)).catch(() => {});
  await amqpConn?.close();
  await admin?.end();
  await removePipelineNamespace(prefix);
});

describe('detector stage', () => {
  test('a scan spread over three agents and two replicas is one detection listing every agent', async () => {
    const scanner = addr(run, 1);
    sources.push(scanner);
    const t0 = Date.now() / 1000;
    const probes = Array.from({ length: 30 }, (_, i) =>
      syntheticSession('rejected', {
        src: scanner,
        dst: addr(run, 100 + i),
        dport: 8081,
        agent: agents[i % 3]!,
        communityId: `1:det${run}probe${i}=`,
        atSec: t0 + i * 0.5,
      }),
    );
    // Each agent's sessions in the order they arrive, some also seen by a second agent (the same conversation).
    const seenTwice = probes.slice(0, 10).map((s) => ({ ...s, agent: agents[(agents.indexOf(s.agent) + 1) % 3]! }));
    for (let i = 0; i < probes.length; i += 5) {
      await publish([...probes.slice(i, i + 5), ...seenTwice.slice(i, i + 5)].map(encodeVerdictEvent));
    }
    const row = await waitFor('the scan with all 30 targets', async () => {
      const rows = await rowsOf(scanner);
      return rows.length > 0 && rows[0]!.distinct_targets === 30 ? rows : undefined;
    });
    assert.equal(row.length, 1, `one incident, not one per replica or agent: ${JSON.stringify(row)}`);
    const d = row[0]!;
    assert.equal(d.detector, 'horizontal_scan');
    assert.equal(d.target, '*:8081/tcp');
    assert.deepEqual([...(d.agents as string[])].sort(), [...agents].sort());
    assert.equal((d.evidence as string[]).length, 30);
    assert.ok(d.sessions >= 30);
    assert.ok(
      (await metric(detectors[0]!, 'fleetcap_detector_sessions_total')) > 0 &&
        (await metric(detectors[1]!, 'fleetcap_detector_sessions_total')) > 0,
      'both replicas took part',
    );
    assert.equal(await sumMetric('fleetcap_detector_detections_total{'), 1, 'opened once across the replicas');
  });

  test('a threshold changed in detector_config takes effect without a restart', async () => {
    await admin.query("UPDATE detector_config SET threshold = 50 WHERE detector = 'vertical_scan'");
    await waitFor('the new threshold in every replica', async () => {
      for (const d of detectors) {
        if ((await metric(d, 'fleetcap_detector_threshold{detector="vertical_scan"')) !== 50) return undefined;
      }
      return true;
    });
    const quiet = addr(run, 2);
    const loud = addr(run, 3);
    sources.push(quiet, loud);
    const t0 = Date.now() / 1000;
    const ports = (src: string, n: number) =>
      Array.from({ length: n }, (_, i) =>
        encodeVerdictEvent(
          syntheticSession('rejected', {
            src,
            dst: addr(run, 250),
            dport: 2000 + i,
            agent: agents[0]!,
            communityId: `1:det${run}${src}p${i}=`,
            atSec: t0 + i * 0.01,
          }),
        ),
      );
    await publish(ports(quiet, 20));
    await publish(ports(loud, 60));
    const rows = await waitFor('the 60-port scan', async () => {
      const r = await rowsOf(loud);
      return r.length > 0 ? r : undefined;
    });
    assert.equal(rows[0]!.detector, 'vertical_scan');
    assert.deepEqual(await rowsOf(quiet), [], '20 ports are under the threshold of 50 set with SQL');
  });

  test('a bad event is counted and dropped; the others are processed', async () => {
    const before = await sumMetric('fleetcap_detector_bad_events_total');
    const sessionsBefore = await sumMetric('fleetcap_detector_sessions_total');
    await publish([
      Buffer.from('{"v":1,"agent":"x"}'),
      Buffer.from('not json'),
      encodeVerdictEvent(syntheticSession('conversation')),
    ]);
    await waitFor('the bad events counted', async () =>
      (await sumMetric('fleetcap_detector_bad_events_total')) === before + 2 ? true : undefined,
    );
    await waitFor('the good event processed', async () =>
      (await sumMetric('fleetcap_detector_sessions_total')) === sessionsBefore + 1 ? true : undefined,
    );
  });
});

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Connection attempts refused with a RST, as each agent's capture holds them. */
function probeCapture(scanner: string, targets: string[], startUs: number): Buffer {
  const writer = new PcapWriter({ linktype: 1, nanosecond: false });
  targets.forEach((dst, i) => {
    const sport = 40000 + i;
    const at = startUs + i * 2000;
    const syn = buildPacket({ proto: 'tcp', src: scanner, sport, dst, dport: 2323, tcpFlags: TCP_SYN });
    const rst = buildPacket({
      proto: 'tcp',
      src: dst,
      sport: 2323,
      dst: scanner,
      dport: sport,
      tcpFlags: TCP_RST | TCP_ACK,
    });
    for (const [frame, ts] of [
      [syn, at],
      [rst, at + 300],
    ] as const) {
      writer.write({ tsSec: Math.floor(ts / 1e6), tsNsec: (ts % 1e6) * 1000, data: frame, origLen: frame.length });
    }
  });
  return writer.toBuffer();
}

describe('from upload to detection', () => {
  const token = 'detector-test-token-1';
  const apps: RunningApp[] = [];

  before(async () => {
    const forecastPort = await freePort();
    apps.push(
      await startApp(
        'splitcap',
        {
          FLEETCAP_SPLITCAP_PORT: '0',
          FLEETCAP_SPLITCAP_TOKENS: agents.map((a) => `${a}=${token}`).join(','),
          FLEETCAP_REDIS_PREFIX: prefix,
          FLEETCAP_QUEUE_PREFIX: prefix,
          FLEETCAP_SESSION_DELAY_MS: '500',
        },
        30_000,
      ),
      await startApp('forecast', { FLEETCAP_FORECAST_PORT: String(forecastPort) }, 30_000),
    );
    apps.push(
      await startApp('session-worker', {
        FLEETCAP_FORECAST_URL: `http://127.0.0.1:${forecastPort}`,
        FLEETCAP_REDIS_PREFIX: prefix,
        FLEETCAP_QUEUE_PREFIX: prefix,
        FLEETCAP_WORKER_PORT: '0',
        FLEETCAP_WORKER_BATCH_MS: '10',
      }),
    );
  });

  after(async () => {
    await Promise.all(apps.map((a) => a.stop()));
    const [rows] = await admin.query('SELECT COUNT(*) AS n FROM session_verdict WHERE agent_id IN (?)', [agents]);
    if ((rows as Array<{ n: number }>)[0]!.n > 0)
      await admin.query('DELETE FROM session_verdict WHERE agent_id IN (?)', [agents]);
  });

  test("three agents' probes, classified by the worker, are one horizontal scan listing the three", async () => {
    const scanner = addr(run, 4);
    sources.push(scanner);
    const startUs = Date.now() * 1000;
    const splitcap = apps[0]!;
    for (const [i, agent] of agents.entries()) {
      const targets = Array.from({ length: 4 }, (_, k) => addr(run + 1, 10 + i * 4 + k));
      const res = await postBatch(
        splitcap.port,
        { agent, token },
        `${prefix}-${agent}`,
        probeCapture(scanner, targets, startUs + i * 10_000),
      );
      assert.equal(res.status, 202, await res.text());
    }
    const rows = await waitFor(
      'the scan of 12 targets by three agents',
      async () => {
        const r = await rowsOf(scanner);
        return r.length > 0 && r[0]!.distinct_targets === 12 ? r : undefined;
      },
      30_000,
    );
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.detector, 'horizontal_scan');
    assert.equal(rows[0]!.target, '*:2323/tcp');
    assert.deepEqual([...(rows[0]!.agents as string[])].sort(), [...agents].sort());
  });
});

describe('the Redis path and the in-memory engine', () => {
  const t0 = 1_790_000_000;
  const udpScan = `horizontal_scan|203.0.113.7|udp/27017|${(t0 + 80) * 1e6}`;

  /** Every kind of incident, spread over three agents, with conversations around them, in time order. */
  function mix(): DetectorSession[] {
    const out: DetectorSession[] = [];
    let n = 0;
    const add = (shape: Parameters<typeof syntheticSession>[0], f: Partial<DetectorSession>, atSec: number) =>
      out.push(syntheticSession(shape, { agent: agents[n % 3]!, communityId: `1:eq${run}n${n++}=`, atSec, ...f }));
    for (let i = 0; i < 400; i++)
      add('rejected', { src: '203.0.113.1', dst: `10.9.${i >> 8}.${i & 255}`, dport: 23 }, t0 + i * 0.5);
    for (let i = 0; i < 300; i++)
      add('rejected', { src: '203.0.113.2', dst: '10.9.9.9', dport: 1 + i }, t0 + 10 + i * 0.1);
    for (let i = 0; i < 2000; i++)
      add(
        'half-open',
        { src: `198.51.${(i >> 8) & 255}.${i & 255}`, dst: '10.9.9.10', dport: 80 },
        t0 + 20 + i * 0.002,
      );
    for (let i = 0; i < 60; i++)
      add('conversation', { src: '203.0.113.3', dst: '10.9.9.11', dport: 22 }, t0 + 30 + i * 2);
    for (let i = 0; i < 20; i++)
      add('conversation', { src: '10.9.1.50', dst: '203.0.113.99', dport: 443 }, t0 + i * 30 + (i % 3) * 0.4);
    // A scan that pauses longer than its window and comes back: two incidents.
    for (let i = 0; i < 8; i++) add('unanswered', { src: '203.0.113.4', dst: `10.8.0.${i}`, dport: 3389 }, t0 + i);
    for (let i = 0; i < 8; i++)
      add('unanswered', { src: '203.0.113.4', dst: `10.8.1.${i}`, dport: 3389 }, t0 + 400 + i);
    // Password guessing with few connections (hydra finding a Redis password at its 4th): distinct credentials,
    // counted apart from the attempts; a client reconnecting with its one password is not guessing.
    for (let i = 0; i < 5; i++)
      add(
        'conversation',
        { src: '203.0.113.5', dst: '10.9.9.12', dport: 6380, authAttempts: 1, credentials: [`00a${i}`] },
        t0 + 50 + i * 0.001,
      );
    for (let i = 0; i < 19; i++)
      add(
        'conversation',
        { src: '10.9.1.51', dst: '10.9.9.12', dport: 6380, authAttempts: 1, credentials: ['0bbb'] },
        t0 + 50 + i,
      );
    // A UDP scan of 4 ports (nmap -sU on "the usual services"), under the threshold of 10 ports, over the UDP one; a
    // DNS server's answers to a resolver's ports (the queries not captured) are no probes.
    for (const [i, dport] of [67, 1194, 161, 5353].entries())
      add('udp-unanswered', { src: '203.0.113.6', dst: '10.9.9.13', dport }, t0 + 60 + i * 0.5);
    for (let i = 0; i < 6; i++)
      add('udp-unanswered', { src: '10.9.9.53', sport: 53, dst: '10.9.1.52', dport: 40000 + i }, t0 + 60 + i);
    // A client trying one application's consecutive ports (a QUIC client 443, 4433-4434; Steam 27017-27019), none
    // answering: two services and one, under the vertical scan's udp_threshold of 3.
    for (const [i, dport] of [443, 4433, 4434].entries())
      add('udp-unanswered', { src: '10.9.1.54', dst: '198.18.1.1', dport }, t0 + 65 + i * 0.05);
    for (const [i, dport] of [27018, 27017, 27019].entries())
      add('udp-unanswered', { src: '10.9.1.54', dst: '198.18.1.2', dport }, t0 + 66 + i * 0.05);
    // Unanswered UDP to a handful of hosts on one port is what UDP clients do (a QUIC client trying servers): no
    // horizontal scan under udp_threshold (25 hosts); UDP probes of 30 hosts are one.
    for (let i = 0; i < 10; i++)
      add('udp-unanswered', { src: '10.9.1.53', dst: `198.18.0.${i + 1}`, dport: 443 }, t0 + 70 + i * 0.3);
    for (let i = 0; i < 30; i++)
      add('udp-unanswered', { src: '203.0.113.7', dst: `10.9.7.${i + 1}`, dport: 27017 }, t0 + 80 + i * 0.3);
    for (let i = 0; i < 1500; i++)
      add('conversation', { src: `10.7.${i % 50}.${i % 7}`, dst: `10.6.0.${i % 40}`, dport: 443 }, t0 + i * 0.4);
    return out.sort((a, b) => a.firstUs - b.firstUs);
  }

  const summary = (d: Detection) => ({
    sessions: d.sessions,
    window: d.windowCount,
    peak: d.peakCount,
    targets: d.distinctTargets,
    sources: d.distinctSources,
    agents: [...d.agents].sort(),
    evidence: [...d.evidence].sort(),
    first: d.firstSeenUs,
    last: d.lastSeenUs,
    period: d.periodSeconds === null ? null : Math.round(d.periodSeconds * 1000),
  });

  // Batches of 256 and of 13 (subjects whose observations stay under the threshold are stored as they came and
  // joined across calls: small batches make every subject go through that). Two replicas taking turns: each holds
  // the incidents it saw and is sent only what the other appended to their lists since; holding 2 incidents, a
  // batch's replies push out incidents whose replies (tails) are still to come.
  for (const [batch, buckets, replicas, held] of [
    [256, 1, 1, undefined],
    [13, 1, 1, undefined],
    [256, CLUSTER_BUCKETS, 1, undefined],
    [64, 1, 2, undefined],
    [512, 1, 2, 2],
  ] as const)
    test(`open the same incidents, with the same counts, lists and times (batches of ${batch}, ${buckets} bucket(s), ${replicas} replica(s)${held ? `, ${held} incidents held` : ''})`, async () => {
      const sessions = mix();
      const config = defaultDetectorConfig();
      const engine = new DetectorEngine(config);
      for (const s of sessions) engine.process(s);
      const redis = new Redis(connections.redisUrl);
      const p = `${prefix}eq${batch}b${buckets}r${replicas}h${held ?? 0}`;
      try {
        const detectors = Array.from({ length: replicas }, () => new RedisDetector(redis, p, Date.now, buckets, held));
        const seen: Detection[] = [];
        // Turns of uneven length, so that each replica misses some of every incident's changes.
        for (let i = 0, turn = 0; i < sessions.length; i += batch, turn++) {
          const detector = detectors[Math.floor(turn / (1 + (turn % 3))) % replicas]!;
          seen.push(...(await detector.process(sessions.slice(i, i + batch), config)).detections);
        }
        const fromRedis = new Map(newestPerIncident(seen).map((d) => [d.id, summary(d)]));
        const fromEngine = new Map(engine.detections().map((d) => [d.id, summary(d)]));
        assert.deepEqual([...fromRedis.keys()].sort(), [...fromEngine.keys()].sort());
        assert.ok(fromEngine.size >= 8, `every kind of incident: ${[...fromEngine.keys()].join(' ')}`);
        const ids = [...fromEngine.keys()];
        assert.equal(ids.filter((id) => id.startsWith('brute_force|203.0.113.5|')).length, 1, 'credentials guessed');
        assert.equal(ids.filter((id) => id.startsWith('brute_force|10.9.1.51|')).length, 0, 'one credential');
        assert.equal(ids.filter((id) => id.startsWith('vertical_scan|203.0.113.6|')).length, 1, 'UDP scan');
        assert.equal(ids.filter((id) => id.includes('10.9.9.53')).length, 0, "a DNS server's answers");
        assert.equal(
          ids.filter((id) => id.startsWith('vertical_scan|10.9.1.54|')).length,
          0,
          "one application's ports",
        );
        assert.deepEqual(
          ids.filter(
            (id) => id.startsWith('horizontal_scan|10.9.1.53|') || id.startsWith('horizontal_scan|203.0.113.7|'),
          ),
          [udpScan],
          'UDP to 10 hosts: no scan; to 30: one',
        );
        assert.equal(fromEngine.get(udpScan)?.targets, 30);
        for (const [id, d] of fromEngine) assert.deepEqual(fromRedis.get(id), d, id);
      } finally {
        await removePipelineNamespace(p).catch(() => {});
        redis.disconnect();
      }
    });

  test('the subject cap holds per bucket, refusals are counted, and expired subjects leave with their generation', async () => {
    const redis = new Redis(connections.redisUrl);
    const p = `${prefix}cap`;
    let now = Date.now();
    // Cluster's bucket count on the single server: the buckets' caps add up as on a Cluster.
    const BUCKETS = CLUSTER_BUCKETS;
    const detector = new RedisDetector(redis, p, () => now, BUCKETS);
    const config = defaultDetectorConfig();
    config.horizontal_scan.subjectCap = BUCKETS; // one subject per bucket
    const generation = () => Math.floor(now / generationMs(config.horizontal_scan));
    const sources = (round: number) =>
      Array.from({ length: 400 }, (_, i) =>
        syntheticSession('rejected', {
          src: `198.${18 + round}.${i >> 8}.${i & 255}`,
          dst: '198.18.255.1',
          dport: 23,
          communityId: `1:cap${run}r${round}i${i}=`,
          atSec: now / 1000,
        }),
      );
    const tracked = async (gen: number) => {
      let n = 0;
      for (let b = 0; b < BUCKETS; b++)
        n += Number((await redis.hget(stateKey(p, b, 'horizontal_scan', gen), '#n')) ?? 0);
      return n;
    };
    try {
      const first = await detector.process(sources(1), config);
      const gen1 = generation();
      const n1 = await tracked(gen1);
      assert.ok(n1 > 0 && n1 <= BUCKETS, `at most one subject per bucket: ${n1}`);
      assert.equal(first.subjectEvictions.horizontal_scan, first.observations.horizontal_scan - n1);
      // The generation's hash expires when the last deadline in it has passed: within three generations.
      const pttls = await Promise.all(
        [...Array(BUCKETS).keys()].map((b) => redis.pttl(stateKey(p, b, 'horizontal_scan', gen1))),
      );
      const longest = 3 * generationMs(config.horizontal_scan) + 1000;
      assert.ok(
        pttls.some((t) => t > 0) && pttls.every((t) => t === -2 || (t > 0 && t <= longest)),
        `each hash of the generation expires within ${longest} ms: ${pttls.join(' ')}`,
      );
      // Two windows and a minute later every subject is past its deadline: no longer counted, and new ones fit again.
      now += (config.horizontal_scan.windowSeconds * 2 + 61) * 1000;
      const second = await detector.process(sources(2), config);
      const n2 = await tracked(generation());
      assert.notEqual(generation(), gen1);
      assert.ok(n2 > 0 && n2 <= BUCKETS, `refilled: ${n2}`);
      assert.ok(second.subjectEvictions.horizontal_scan < second.observations.horizontal_scan);
      assert.equal(second.subjectEvictions.horizontal_scan, second.observations.horizontal_scan - n2);
    } finally {
      await removePipelineNamespace(p).catch(() => {});
      redis.disconnect();
    }
  });
});
