// The cluster run (issue 15; docs/OPERATIONS.md, "The cluster stack"): on the cluster stack (stack.sh up --cluster),
// two agents (the sniffer's real Spool and Uploader, test/faults/pipeline.ts) upload through HAProxy to two splitcaps
// (TLS, the agents' tokens), two session-workers and forecast work the sessions, two config-syncs share one Kafka
// consumer group. While traffic flows, one node of each cluster is killed with kill -9 and started again after a while:
// a Redis master, a RabbitMQ node, the ZooKeeper leader, a splitcap behind HAProxy, a Kafka broker (when
// stack/kafka-cluster.sh exists). Each loss is timed (until the pipeline acknowledged a batch first tried after the
// kill, the longest time without any 202, batches retried, messages RabbitMQ delivered to the workers again, and for
// the configuration path the time a sniffer_config change took to reach ZooKeeper). At the end every acknowledged
// packet must be in exactly one verdict row (or a counted drop), nothing stuck, configs still propagate, both agents
// kept uploading and every app is healthy.
import './cluster-env.ts';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { AgentPaths } from '@fleetcap/lib/agent/paths';
import { stackHome } from '@fleetcap/lib/config/secrets';
import { detectorQueueName } from '@fleetcap/lib/detectors/verdict-event';
import { recordSweepQueueNames, sessionQueueNames } from '@fleetcap/lib/queue/topology';
import { connectRedis, masters, type RedisClient } from '@fleetcap/lib/redis/connect';
import { httpsAgentFor } from '@fleetcap/sniffer/http-post';
import amqp from 'amqplib';
import type { RowDataPacket } from 'mysql2/promise';
import { waitForDrain } from '../faults/checks.ts';
import { Agent, DELAY_MS, type LedgerBatch, SWEEP_MS } from '../faults/pipeline.ts';
import { rng } from '../faults/traffic.ts';
import { deleteAgentRows, deleteConsumerGroups, insertCaptureConfig } from '../helpers/config-sync.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { connections, mysqlAs, removeZkTree, repoRoot, uniqueId, zkConnect } from '../helpers/stack.ts';
import { clusterEnv } from './cluster-env.ts';

const run = promisify(execFile);

export const LOSS_KINDS = ['redis-master', 'rabbitmq-node', 'zookeeper-leader', 'splitcap', 'kafka-broker'] as const;
export type LossKind = (typeof LOSS_KINDS)[number];

export interface ClusterRunOptions {
  seed: number;
  /** How many times the whole set of losses is played (one of each kind per round). */
  rounds: number;
  /** How long a killed node stays down while traffic flows. */
  downMs: number;
  /** Traffic before the first loss and after the last restart. */
  calmMs: number;
  /** The kinds of loss played, in this order each round; every kind unless given (the Kafka broker's only on its cluster). */
  kinds?: readonly LossKind[];
  /** Time between two batches of each agent (the traffic's rate); BATCH_INTERVAL_MS unless given. */
  batchIntervalMs?: number;
  /**
   * Each node's restart goes on while the next loss (of another cluster) is played, and the run waits for every restart
   * before its last calm: the short form's, whose time was mostly the restarts (a RabbitMQ node 50-80 s, a splitcap
   * 50 s at load 20-28). The settle time then counts from the restart's start. A second loss of one kind (rounds > 1)
   * waits for that kind's restart.
   */
  overlapRestarts?: boolean;
  /** How long each loss is watched after its node's restart (its gap, redeliveries) before the next; 10 s unless given. */
  settleMs?: number;
  log?: (line: string) => void;
}

export interface LossReport {
  kind: LossKind;
  node: string;
  /** From the kill until a batch whose first upload attempt came after the kill was acknowledged (202). */
  ackRecoveredMs: number | null;
  /** The longest time without any 202 from the kill until the end of the settle time after the restart. */
  longestAckGapMs: number;
  /** Batches first tried in that window that needed more than one attempt. */
  batchesRetried: number;
  /** Messages RabbitMQ delivered to the workers again in that window (fleetcap_worker_redeliveries_total). */
  redelivered: number;
  /** `start N` of the node (or the app's start) until it served again; null while it goes on (overlapRestarts). */
  restartMs: number | null;
  /** When the kill was, from the run's start (the doubled sessions' histories are timed so too). */
  killedAtS?: number;
  /** For the configuration path: a sniffer_config change made just after the kill, until it was in ZooKeeper. */
  configMs?: number | null;
}

export interface ClusterRunReport {
  seed: number;
  losses: LossReport[];
  kafkaCluster: boolean;
  packets: { sent: number; accepted: number; inRows: number; lost: number; duplicated: number; countedDrops: number };
  sessions: number;
  verdictRows: number;
  duplicateSessions: number;
  /** Each doubled session's rows and ledger batches (the first 5). */
  doubledHistories: string[];
  unexpectedOccurrences: number;
  incompleteRows: number;
  stuck: Record<string, number>;
  sessionKeysLeft: number;
  /** The longest time each agent went without a 202 while traffic flowed (an agent that stopped uploading is offline). */
  agentLongestGapMs: Record<string, number>;
  configDeliveryMs: number | null;
  unhealthy: string[];
  /** Redeliveries while no node was down (a few seconds before the first loss): the noise floor of `redelivered`. */
  redeliveredCalm: number;
  /**
   * Messages the workers acked without a verdict, by why (fleetcap_worker_messages_total's skip outcomes): a session
   * `gone` from Redis or of another occurrence is what a lost write, or a read from a stale master, looks like.
   */
  skipped: Record<string, number>;
  problems: string[];
  durationS: number;
}

// A batch of one new session (and the open ones' next packets) per agent every 300 ms: a sixth of the fault run's rate,
// which 2 workers on this 2-core machine could not keep up with at load 45-57 (the backlog of a 15-minute run did not
// drain within the run's deadlines, and the ledger's verdict was then about a pipeline that was not done).
const BATCH_INTERVAL_MS = 300;
const NEW_SESSIONS_PER_BATCH = 1;
// Longer than the fault run's 6 s: a loss stalls uploads for several seconds (a Redis failover takes about 5 s, a
// RabbitMQ node's start minutes at this machine's load), and a session idle for longer than this is ended and its
// later packets start a second occurrence, which is correct but not what this run measures.
const IDLE_S = 20;
// The session-workers' default (120 s), not the fault run's 3 s: a batch whose append a master applied while its WAIT
// for the replica failed (a failover) is answered 503 and sent again up to 14 s later, by when its occurrence may be
// classified and its record completed; only the done marker then tells the retried packets from a new occurrence's,
// so with 3 s they became a second row (3 packets counted twice in a stop-18 run). The drain ignores done markers.
const DONE_TTL_S = 120;
const tlsDir = join(stackHome(), 'tls');
const splitcapPorts = (clusterEnv.FLEETCAP_SPLITCAP_REPLICA_PORTS ?? '7411,7412').split(',').map(Number);
const balancerUrl = clusterEnv.FLEETCAP_SPLITCAP_BALANCER_URL ?? 'https://127.0.0.1:7401';

function script(name: string, ...args: string[]): Promise<string> {
  // A RabbitMQ node took more than 4 minutes to start at load 50 on this machine.
  return run('bash', [join(repoRoot, 'stack', `${name}.sh`), ...args], { cwd: repoRoot, timeout: 900_000 }).then(
    (r) => r.stdout,
  );
}

/** GET of a URL over HTTP, or over HTTPS trusting the stack's CA. */
async function getText(url: string, ca?: Buffer): Promise<{ status: number; body: string }> {
  if (!url.startsWith('https:')) {
    const r = await fetch(url, { signal: AbortSignal.timeout(3000) });
    return { status: r.status, body: await r.text() };
  }
  return new Promise((resolve, reject) => {
    const req = httpsGet(url, { ca, timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout'))).on('error', reject);
  });
}

/** The sum of a counter's series in a /metrics text. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{'))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  return sum;
}

/** Every key of the prefix on every master of the Redis Cluster. */
async function keysOnCluster(redis: RedisClient, pattern: string): Promise<string[]> {
  const found: string[] = [];
  for (const node of masters(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
      found.push(...keys);
      cursor = next;
    } while (cursor !== '0');
  }
  return found;
}

/** One AMQP connection to whichever node answers first. */
async function amqpAny(): Promise<amqp.ChannelModel> {
  let last: unknown;
  for (const url of connections.amqpUrls)
    try {
      return await amqp.connect(url);
    } catch (err) {
      last = err;
    }
  throw last;
}

/** Inserts a sniffer_config row and waits until config-sync wrote its ZooKeeper node (then removes both). */
async function configDelivery(agent: string, timeoutMs = 90_000): Promise<number | null> {
  const t0 = Date.now();
  const zk = await zkConnect();
  const node = new AgentPaths().config(agent);
  try {
    insertCaptureConfig(agent, 'eth0', 'udp port 9');
    while (Date.now() - t0 < timeoutMs) {
      if (await zk.exists(node).catch(() => null)) return Date.now() - t0;
      await sleep(200);
    }
    return null;
  } finally {
    deleteAgentRows(agent);
    await removeZkTree(zk, node.slice(0, node.lastIndexOf('/'))).catch(() => {});
    await zk.close();
  }
}

/** The node numbers of the Redis Cluster's masters now (redis-cluster.sh status: `node N  addr  master`). */
async function redisMasters(): Promise<number[]> {
  const out = await script('redis-cluster', 'status');
  return [...out.matchAll(/^node (\d+)\s+\S+\s+master/gm)].map((m) => Number(m[1]));
}

export async function runCluster(o: ClusterRunOptions): Promise<ClusterRunReport> {
  const log = o.log ?? (() => {});
  const started = Date.now();
  const prefix = uniqueId('clu').replace(/[^A-Za-z0-9]/g, '');
  const token = 'cluster-run-token-0123456789';
  const agentIds = [uniqueId('ca1').slice(0, 50), uniqueId('ca2').slice(0, 50)];
  const ledger = new Map<string, LedgerBatch>();
  const problems: string[] = [];
  const spoolRoot = mkdtempSync(join(tmpdir(), 'fleetcap-cluster-'));
  const ca = readFileSync(join(tlsDir, 'ca.crt'));
  const kafkaCluster = existsSync(join(repoRoot, 'stack', 'kafka-cluster.sh')) && !!clusterEnv.FLEETCAP_KAFKA_BROKERS;
  const random = rng(o.seed);

  log(`cluster run: seed ${o.seed}, ${o.rounds} round(s), prefix ${prefix}, through ${balancerUrl}`);
  const stamp = (line: string) => log(`+${Math.round((Date.now() - started) / 1000)}s ${line}`);
  const common = {
    FLEETCAP_REDIS_PREFIX: prefix,
    FLEETCAP_QUEUE_PREFIX: prefix,
    FLEETCAP_LOG_LEVEL: process.env.FLEETCAP_CLUSTER_APP_LOG_LEVEL ?? 'error',
  };
  const splitcapEnv = (i: number) => ({
    ...common,
    FLEETCAP_SPLITCAP_PORT: String(splitcapPorts[i]),
    FLEETCAP_SPLITCAP_TLS_CERT: join(tlsDir, 'splitcap.crt'),
    FLEETCAP_SPLITCAP_TLS_KEY: join(tlsDir, 'splitcap.key'),
    FLEETCAP_SPLITCAP_CREDENTIALS: 'tokens',
    FLEETCAP_SPLITCAP_TOKENS: agentIds.map((a) => `${a}=${token}`).join(','),
    FLEETCAP_SESSION_DELAY_MS: String(DELAY_MS),
  });
  const forecast = await startApp('forecast', { FLEETCAP_FORECAST_PORT: '0' }, 90_000);
  const workerEnv = {
    ...common,
    FLEETCAP_FORECAST_URL: `http://127.0.0.1:${forecast.port}`,
    FLEETCAP_DONE_TTL_SECONDS: String(DONE_TTL_S),
    FLEETCAP_WORKER_PORT: '0',
    FLEETCAP_WORKER_BATCH_MS: '20',
    FLEETCAP_RECORD_SWEEP_MS: String(SWEEP_MS),
    FLEETCAP_TCP_INACTIVITY_TIMEOUT_S: String(IDLE_S),
    FLEETCAP_UDP_INACTIVITY_TIMEOUT_S: String(IDLE_S),
  };
  const configSyncGroup = `${prefix}-config-sync`;
  const configSyncEnv = {
    FLEETCAP_CONFIG_SYNC_PORT: '0',
    FLEETCAP_CONFIG_SYNC_GROUP: configSyncGroup,
    FLEETCAP_CONFIG_SYNC_SESSION_TIMEOUT_MS: '10000',
    FLEETCAP_LOG_LEVEL: 'error',
  };
  // The six start together: one after the other they took a minute of each run at load 20 (tsx compiling each).
  const [splitcaps, workers, configSyncs] = await Promise.all([
    Promise.all([0, 1].map((i) => startApp('splitcap', splitcapEnv(i), 120_000))),
    Promise.all([0, 1].map(() => startApp('session-worker', workerEnv, 120_000))),
    Promise.all([0, 1].map(() => startApp('config-sync', configSyncEnv, 150_000))),
  ]);
  // HAProxy sees both replicas up (two good checks a second apart) before the agents start.
  for (let i = 0; i < 30 && (await balancerUp()) < 2; i++) await sleep(500);
  stamp('apps up; the agents start');

  // The workers' redeliveries (they are not killed here: their counters only grow).
  const redeliveries = async () => {
    let n = 0;
    for (const w of workers)
      n += metricSum(
        (await getText(`http://127.0.0.1:${w.port}/metrics`).catch(() => ({ body: '' }))).body,
        'fleetcap_worker_redeliveries_total',
      );
    return n;
  };

  const tls = httpsAgentFor(ca);
  const agents = agentIds.map(
    (id, i) => new Agent(id, i, o.seed, join(spoolRoot, id), ledger, () => balancerUrl, token, tls),
  );
  for (const a of agents) a.startUploads();
  const trafficStart = Date.now();
  let producing = true;
  const producer = (async () => {
    while (producing) {
      for (const a of agents) a.produce(NEW_SESSIONS_PER_BATCH);
      await sleep(o.batchIntervalMs ?? BATCH_INTERVAL_MS);
    }
    for (let i = 0; i < 5; i++) {
      for (const a of agents) a.produce(0);
      await sleep(o.batchIntervalMs ?? BATCH_INTERVAL_MS);
    }
  })();

  const acceptedTimes = () =>
    [...ledger.values()]
      .filter((b) => b.state === 'accepted' && b.acceptedAt !== undefined)
      .map((b) => b.acceptedAt!)
      .sort((a, b) => a - b);
  const longestGap = (times: number[], from: number, to: number) => {
    let last = from;
    let most = 0;
    for (const t of times) {
      if (t < from) continue;
      if (t > to) break;
      most = Math.max(most, t - last);
      last = t;
    }
    return Math.max(most, to - last);
  };

  const losses: LossReport[] = [];
  // The restarts still going on (overlapRestarts), by kind.
  const restarting = new Map<LossKind, Promise<void>>();
  const restartProblem = async (kind: LossKind) => {
    const going = restarting.get(kind);
    restarting.delete(kind);
    return going?.then(
      () => undefined,
      (err: Error) => `${kind}: ${err.message.split('\n')[0]}`,
    );
  };
  let redeliveredCalm = 0;
  try {
    await sleep(o.calmMs);
    const calm0 = await redeliveries();
    await sleep(3000);
    redeliveredCalm = (await redeliveries()) - calm0;
    const kinds = (o.kinds ?? LOSS_KINDS).filter((k) => k !== 'kafka-broker' || kafkaCluster);
    plays: for (let round = 0; round < o.rounds; round++)
      for (const kind of kinds) {
        let loss: LossReport;
        const before = await restartProblem(kind);
        if (before) {
          problems.push(before);
          break plays;
        }
        try {
          loss = await lose(kind, round);
        } catch (err) {
          // A node that would not come back: the rest of the run still checks what was acknowledged.
          problems.push(`${kind}: ${(err as Error).message.split('\n')[0]}`);
          break plays;
        }
        losses.push(loss);
        stamp(
          `loss ${losses.length}: ${kind} ${loss.node}: 202 again after ${loss.ackRecoveredMs ?? 'never'} ms, longest gap ${loss.longestAckGapMs} ms, ${loss.batchesRetried} batches retried, ${loss.redelivered} redelivered, restart ${loss.restartMs === null ? 'going on' : `${loss.restartMs} ms`}${loss.configMs !== undefined ? `, config ${loss.configMs ?? 'never'} ms` : ''}`,
        );
        await sleep(3000);
      }
    for (const kind of [...restarting.keys()]) {
      const failed = await restartProblem(kind);
      if (failed) problems.push(failed);
    }
    stamp('every node restarted');
    await sleep(o.calmMs);
  } finally {
    producing = false;
    await producer;
  }

  async function balancerUp(): Promise<number> {
    const port = Number(new URL(balancerUrl).port) + 1;
    const csv = await getText(`http://127.0.0.1:${port}/stats;csv`).catch(() => ({ body: '' }));
    return csv.body.split('\n').filter((l) => l.startsWith('splitcaps,splitcap-') && l.split(',')[17] === 'UP').length;
  }

  /** The splitcap replica with the most connections through HAProxy now (`otherwise` when none has any). */
  async function busiestReplica(otherwise: number): Promise<number> {
    const port = Number(new URL(balancerUrl).port) + 1;
    const csv = await getText(`http://127.0.0.1:${port}/stats;csv`).catch(() => ({ body: '' }));
    const current = [0, 0];
    for (const line of csv.body.split('\n')) {
      const f = line.split(',');
      const n = f[0] === 'splitcaps' ? Number(/^splitcap-(\d)$/.exec(f[1] ?? '')?.[1]) : Number.NaN;
      if (n === 1 || n === 2) current[n - 1] = Number(f[4]);
    }
    if (current[0] === current[1]) return otherwise;
    return current[0]! > current[1]! ? 0 : 1;
  }

  async function lose(kind: LossKind, round: number): Promise<LossReport> {
    let node = '';
    let loss: LossReport | undefined;
    let restart: () => Promise<void>;
    const before = await redeliveries();
    const t0 = Date.now();
    let configProbe: Promise<number | null> | undefined;
    switch (kind) {
      case 'redis-master': {
        const ms = await redisMasters();
        const n = ms[Math.floor(random() * ms.length)]!;
        node = `node ${n}`;
        await script('redis-cluster', 'kill', String(n));
        restart = async () => void (await script('redis-cluster', 'start', String(n)));
        break;
      }
      case 'rabbitmq-node': {
        // The first node first: every app connects there (FLEETCAP_AMQP_CLUSTER_NODES' order), and it leads queues.
        const n = (round % 3) + 1;
        node = `node ${n}`;
        await script('rabbitmq-cluster', 'kill', String(n));
        restart = async () => void (await script('rabbitmq-cluster', 'start', String(n)));
        break;
      }
      case 'zookeeper-leader': {
        const n = (await script('zookeeper-ensemble', 'leader')).trim();
        node = `server ${n} (leader)`;
        await script('zookeeper-ensemble', 'kill', n);
        configProbe = configDelivery(uniqueId('czk').slice(0, 50));
        restart = async () => void (await script('zookeeper-ensemble', 'start', n));
        break;
      }
      case 'kafka-broker': {
        const n = String((round % 3) + 1);
        node = `broker ${n}`;
        await script('kafka-cluster', 'kill', n);
        configProbe = configDelivery(uniqueId('ckf').slice(0, 50));
        restart = async () => void (await script('kafka-cluster', 'start', n));
        break;
      }
      case 'splitcap': {
        // The replica the agents' connections are on (HAProxy's current sessions; the agents keep theirs alive), in
        // the middle of an upload, as a lost machine would be.
        const i = await busiestReplica(round % 2);
        node = `replica ${i + 1} (port ${splitcapPorts[i]})`;
        const until = Date.now() + 3000;
        while (Date.now() < until && !agents.some((a) => (a.uploader?.active ?? 0) > 0)) await sleep(2);
        const s = splitcaps[i]!;
        s.child.kill('SIGKILL');
        await s.stop();
        restart = async () => {
          splitcaps[i] = await startApp('splitcap', splitcapEnv(i), 90_000);
          for (let k = 0; k < 20 && (await balancerUp()) < 2; k++) await sleep(500);
        };
        break;
      }
    }
    // Acknowledged again: a batch first tried after the kill got its 202.
    let ackRecoveredMs: number | null = null;
    const watchAck = (async () => {
      while (Date.now() - t0 < o.downMs + 60_000) {
        const b = [...ledger.values()].find(
          (x) => x.state === 'accepted' && (x.firstTryAt ?? 0) > t0 && x.acceptedAt !== undefined,
        );
        if (b) {
          ackRecoveredMs = b.acceptedAt! - t0;
          return;
        }
        await sleep(50);
      }
    })();
    await sleep(o.downMs);
    const r0 = Date.now();
    let restartMs: number | null = null;
    const restarted = restart!().then(() => {
      restartMs = Date.now() - r0;
      if (loss) loss.restartMs = restartMs;
    });
    if (o.overlapRestarts) {
      restarted.catch(() => {});
      restarting.set(kind, restarted);
    } else await restarted;
    await sleep(o.settleMs ?? 10_000);
    await watchAck;
    const end = Date.now();
    const after = await redeliveries();
    const retried = [...ledger.values()].filter(
      (b) => (b.firstTryAt ?? 0) >= t0 && (b.firstTryAt ?? 0) <= end && b.attempted,
    ).length;
    loss = {
      kind,
      node,
      ackRecoveredMs,
      longestAckGapMs: longestGap(acceptedTimes(), t0, end),
      batchesRetried: retried,
      redelivered: after - before,
      restartMs,
      killedAtS: Math.round((t0 - started) / 100) / 10,
    };
    if (configProbe) loss.configMs = await configProbe;
    return loss;
  }

  stamp('traffic over; waiting for the spools to empty and the pipeline to go quiet');
  const trafficEnd = Date.now();
  const configDeliveryMs = await configDelivery(uniqueId('cend').slice(0, 50)).catch(() => null);
  const spoolDeadline = Date.now() + 300_000;
  while (Date.now() < spoolDeadline && agents.some((a) => a.spool.size > 0)) await sleep(200);
  if (agents.some((a) => a.spool.size > 0)) problems.push('spools did not empty within 300 s');
  stamp('spools empty');

  const agentLongestGapMs: Record<string, number> = {};
  for (const id of agentIds) {
    const times = [...ledger.values()]
      .filter((b) => b.agent === id && b.state === 'accepted' && b.acceptedAt !== undefined)
      .map((b) => b.acceptedAt!)
      .sort((a, b) => a - b);
    agentLongestGapMs[id] = longestGap(times, trafficStart + 5000, trafficEnd);
  }

  const redis = connectRedis(connections.redisUrl, connections.redisClusterNodes);
  const db = await mysqlAs('report');
  const queues = sessionQueueNames(prefix, DELAY_MS);
  const sweep = recordSweepQueueNames(prefix, SWEEP_MS);
  const watched = [queues.ready, queues.delay, sweep.due, sweep.sweep, queues.dead];
  const depths = async () => {
    const conn = await amqpAny();
    try {
      const out: Record<string, number> = {};
      for (const q of watched) {
        const ch = await conn.createChannel();
        out[q.slice(prefix.length + 1)] = await ch.checkQueue(q).then(
          (r) => r.messageCount,
          () => -1,
        );
        await ch.close().catch(() => {});
      }
      return out;
    } finally {
      await conn.close().catch(() => {});
    }
  };
  const openRows = async () => {
    const [rows] = await db.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM session_verdict WHERE agent_id IN (?) AND completed_at IS NULL',
      [agentIds],
    );
    return Number(rows[0]!.n);
  };
  // Drained (test/faults/checks.ts): nothing queued, no session key, every row completed, within 300 s.
  const drain = await waitForDrain(
    {
      queueDepths: async () =>
        Object.fromEntries(Object.entries(await depths()).filter(([q]) => !q.endsWith('.dead.q'))),
      sessionKeys: async () => (await keysOnCluster(redis, `${prefix}:s:*`)).filter((k) => !k.endsWith(':d')),
      openRows,
    },
    { deadlineMs: 300_000 },
  );
  if (!drain.drained) problems.push(drain.pending);
  const stuck: Record<string, number> = await depths().catch(() => ({}));
  const keysLeft = drain.sessionKeys;

  stamp('quiet; checking the rows against the ledger');
  // What the apps said (FLEETCAP_CLUSTER_LOG_DIR: one file per app), for a run that did not go quiet.
  const logDir = process.env.FLEETCAP_CLUSTER_LOG_DIR;
  if (logDir) {
    mkdirSync(logDir, { recursive: true });
    const named: Array<[string, RunningApp]> = [
      ...splitcaps.map((a, i): [string, RunningApp] => [`splitcap-${i + 1}`, a]),
      ...workers.map((a, i): [string, RunningApp] => [`session-worker-${i + 1}`, a]),
      ...configSyncs.map((a, i): [string, RunningApp] => [`config-sync-${i + 1}`, a]),
      ['forecast', forecast],
    ];
    for (const [name, app] of named) writeFileSync(join(logDir, `${name}.log`), app.output());
  }

  const skipped: Record<string, number> = {};
  for (const w of workers) {
    const text = (await getText(`http://127.0.0.1:${w.port}/metrics`).catch(() => ({ body: '' }))).body;
    for (const m of text.matchAll(/^fleetcap_worker_messages_total\{[^}]*\boutcome="([^"]+)"[^}]*\} (\S+)$/gm))
      if (m[1] !== 'classified') skipped[m[1]!] = (skipped[m[1]!] ?? 0) + Number(m[2]);
  }

  const unhealthy: string[] = [];
  const health = async (name: string, url: string) => {
    const r = await getText(url, ca).catch(() => ({ status: 0, body: '' }));
    if (r.status !== 200) unhealthy.push(name);
  };
  for (const [i, s] of splitcaps.entries()) await health(`splitcap-${i + 1}`, `https://127.0.0.1:${s.port}/healthz`);
  for (const [i, w] of workers.entries()) await health(`session-worker-${i + 1}`, `http://127.0.0.1:${w.port}/healthz`);
  for (const [i, c] of configSyncs.entries())
    await health(`config-sync-${i + 1}`, `http://127.0.0.1:${c.port}/healthz`);
  await health('forecast', `http://127.0.0.1:${forecast.port}/healthz`);
  if ((await balancerUp()) < 2) unhealthy.push('HAProxy: not both splitcaps up');

  // The ledger against the rows: per session, the packets acknowledged against those in its rows (a row holds its
  // verdict's packets, or its connection record's when that has more: test/faults/fault-run.ts says why).
  const [rows] = await db.query<RowDataPacket[]>(
    'SELECT agent_id, session_key, occurrence, packets, orig_pkts, resp_pkts, reason, conn_state, classified_at, completed_at FROM session_verdict WHERE agent_id IN (?)',
    [agentIds],
  );
  const accepted = new Map<string, { packets: number; late: boolean; lastFirstTry: number }>();
  const packets = { sent: 0, accepted: 0, inRows: 0, lost: 0, duplicated: 0, countedDrops: 0 };
  for (const b of [...ledger.values()].sort((x, y) => (x.firstTryAt ?? 0) - (y.firstTryAt ?? 0))) {
    packets.sent += b.packets;
    if (b.state !== 'accepted') continue;
    packets.accepted += b.packets;
    for (const [key, n] of b.perSession) {
      const id = `${b.agent}/${key}`;
      const s = accepted.get(id) ?? { packets: 0, late: false, lastFirstTry: 0 };
      accepted.set(id, s);
      s.packets += n;
      if (s.lastFirstTry > 0 && (b.acceptedAt ?? 0) - s.lastFirstTry > (IDLE_S - 1) * 1000) s.late = true;
      s.lastFirstTry = b.firstTryAt ?? b.acceptedAt ?? 0;
    }
  }
  const rowsOf = new Map<string, RowDataPacket[]>();
  for (const r of rows) {
    const id = `${r.agent_id}/${r.session_key}`;
    rowsOf.set(id, [...(rowsOf.get(id) ?? []), r]);
  }
  // A doubled session's story, for finding why: its rows, and every batch of the ledger that held its packets.
  const doubled: string[] = [];
  const sessionHistory = (id: string, its: RowDataPacket[]): string => {
    const at = (t: number | undefined) => (t === undefined ? '-' : `${((t - started) / 1000).toFixed(1)}s`);
    const lines = [`${id}:`];
    for (const r of its)
      lines.push(
        `  row occurrence ${r.occurrence} (${r.reason}): ${r.packets} packets, record ${r.orig_pkts ?? '-'}+${r.resp_pkts ?? '-'} ${r.conn_state ?? ''}, classified ${String(r.classified_at)}, completed ${String(r.completed_at)}`,
      );
    const key = id.slice(id.indexOf('/') + 1);
    for (const [batchId, b] of ledger)
      if (`${b.agent}/${key}` === id && b.perSession.has(key))
        lines.push(
          `  batch ${batchId}: ${b.perSession.get(key)} packets, ${b.state}, first try ${at(b.firstTryAt)}, 202 ${at(b.acceptedAt)}${b.attempted ? ', retried' : ''}`,
        );
    for (const l of losses) lines.push(`  loss ${l.kind} ${l.node} at ${l.killedAtS}s, down ${o.downMs / 1000}s`);
    return lines.join('\n');
  };
  let duplicateSessions = 0;
  let unexpectedOccurrences = 0;
  let missing = 0;
  for (const [id, s] of accepted) {
    const its = rowsOf.get(id) ?? [];
    rowsOf.delete(id);
    const covered = its.reduce(
      (a, r) => a + Math.max(Number(r.packets), Number(r.orig_pkts ?? 0) + Number(r.resp_pkts ?? 0)),
      0,
    );
    packets.inRows += Math.min(covered, s.packets);
    if (its.length > 1 && !s.late) unexpectedOccurrences += its.length - 1;
    if (covered > s.packets) {
      duplicateSessions++;
      packets.duplicated += covered - s.packets;
      if (problems.length < 20)
        problems.push(`${id}: ${covered} packets in ${its.length} rows, ${s.packets} acknowledged`);
      if (doubled.length < 5) doubled.push(sessionHistory(id, its));
    } else if (covered < s.packets) {
      missing += s.packets - covered;
      if (problems.length < 20)
        problems.push(
          `${id}: ${covered} packets in ${its.length} rows, ${s.packets} acknowledged${s.late ? ' (late)' : ''}`,
        );
    }
  }
  if (rowsOf.size > 0) problems.push(`${rowsOf.size} sessions have rows but no acknowledged packet`);
  // Packets in no row must be splitcap's counted drops (packet_drop), as in the fault run.
  await sleep(6000);
  const [drops] = await db.query<RowDataPacket[]>(
    'SELECT COALESCE(SUM(packets), 0) AS n FROM packet_drop WHERE agent_id IN (?)',
    [agentIds],
  );
  packets.countedDrops = Number(drops[0]!.n);
  packets.lost = Math.max(0, missing - packets.countedDrops);
  if (packets.countedDrops > missing)
    problems.push(`${packets.countedDrops} packets counted dropped, ${missing} in no row`);
  const incompleteRows = await openRows();

  const report: ClusterRunReport = {
    seed: o.seed,
    losses,
    kafkaCluster,
    packets,
    sessions: accepted.size,
    verdictRows: rows.length,
    duplicateSessions,
    doubledHistories: doubled,
    unexpectedOccurrences,
    incompleteRows,
    stuck,
    sessionKeysLeft: keysLeft,
    agentLongestGapMs,
    configDeliveryMs,
    unhealthy,
    redeliveredCalm,
    skipped,
    problems,
    durationS: Math.round((Date.now() - started) / 1000),
  };

  for (const a of agents) await a.stopUploads();
  tls.destroy();
  await Promise.all([...splitcaps, ...workers, ...configSyncs, forecast].map((a) => a.stop()));
  const keys = await keysOnCluster(redis, `${prefix}:*`);
  for (const k of keys) await redis.unlink(k).catch(() => {});
  redis.disconnect();
  await db.end();
  const conn = await amqpAny().catch(() => undefined);
  if (conn) {
    const ch = await conn.createChannel();
    for (const q of [...watched, detectorQueueName(prefix)]) await ch.deleteQueue(q).catch(() => {});
    await conn.close().catch(() => {});
  }
  await deleteConsumerGroups([configSyncGroup]).catch(() => {});
  rmSync(spoolRoot, { recursive: true, force: true });
  return report;
}

/** What the run must show; the test and the command line check the same. */
export function failedClusterChecks(r: ClusterRunReport): string[] {
  const failed: string[] = [];
  if (r.packets.lost > 0) failed.push(`${r.packets.lost} acknowledged packets are in no row and no counted drop`);
  if (r.packets.duplicated > 0)
    failed.push(`${r.duplicateSessions} sessions have ${r.packets.duplicated} packets twice`);
  if (r.unexpectedOccurrences > 0) failed.push(`${r.unexpectedOccurrences} unexpected second occurrences`);
  if (r.incompleteRows > 0) failed.push(`${r.incompleteRows} rows never completed`);
  const stuck = Object.entries(r.stuck).filter(([, n]) => n !== 0);
  if (stuck.length > 0)
    failed.push(`messages stuck or dead-lettered: ${stuck.map(([q, n]) => `${q}=${n}`).join(', ')}`);
  if (r.sessionKeysLeft > 0) failed.push(`${r.sessionKeysLeft} session keys left in Redis`);
  if (r.configDeliveryMs === null) failed.push('a sniffer_config change did not reach ZooKeeper after the losses');
  for (const l of r.losses) {
    if (l.ackRecoveredMs === null)
      failed.push(`after the loss of ${l.kind} ${l.node}, no batch was acknowledged again`);
    if (l.configMs === null) failed.push(`while ${l.kind} ${l.node} was down, a config change did not reach ZooKeeper`);
  }
  // An agent that got no 202 for a minute is offline for the fleet's purposes.
  for (const [agent, gap] of Object.entries(r.agentLongestGapMs))
    if (gap > 60_000) failed.push(`agent ${agent} went ${gap} ms without an acknowledged upload`);
  if (r.unhealthy.length > 0) failed.push(`not healthy at the end: ${r.unhealthy.join(', ')}`);
  if (r.packets.accepted === 0) failed.push('no packet was acknowledged');
  failed.push(...r.problems.filter((p) => LOSS_KINDS.some((k) => p.startsWith(`${k}:`))));
  return failed;
}

export function formatClusterReport(r: ClusterRunReport): string {
  const lines: string[] = [
    `cluster run, seed ${r.seed}, ${r.durationS} s (Kafka ${r.kafkaCluster ? '3 brokers' : 'single broker'})`,
  ];
  lines.push('losses (kill -9, restarted after the down time, traffic flowing)');
  lines.push(
    `  ${'kind'.padEnd(17)} ${'node'.padEnd(24)} ${'202 again'.padStart(10)} ${'longest gap'.padStart(12)} ${'retried'.padStart(8)} ${'redelivered'.padStart(12)} ${'restart'.padStart(9)} ${'config'.padStart(9)}`,
  );
  for (const l of r.losses)
    lines.push(
      `  ${l.kind.padEnd(17)} ${l.node.padEnd(24)} ${`${l.ackRecoveredMs ?? 'never'} ms`.padStart(10)} ${`${l.longestAckGapMs} ms`.padStart(12)} ${String(l.batchesRetried).padStart(8)} ${String(l.redelivered).padStart(12)} ${(l.restartMs === null ? 'never' : `${l.restartMs} ms`).padStart(9)} ${(l.configMs === undefined ? '-' : `${l.configMs ?? 'never'} ms`).padStart(9)}`,
    );
  const row = (k: string, v: string | number) => lines.push(`${k.padEnd(58)} ${v}`);
  row('redelivered in 3 s without a loss (noise floor)', r.redeliveredCalm);
  row(
    'messages acked without a verdict (done, gone, other occurrence)',
    Object.entries(r.skipped ?? {})
      .map(([why, n]) => `${why} ${n}`)
      .join(', ') || 'none',
  );
  row('packets sent / acknowledged (202)', `${r.packets.sent} / ${r.packets.accepted}`);
  row('acknowledged packets in exactly one row', r.packets.inRows);
  row('counted drops (packet_drop)', r.packets.countedDrops);
  row('lost (in no row, no counted drop; must be 0)', r.packets.lost);
  row('counted twice (must be 0)', r.packets.duplicated);
  row('sessions / verdict rows', `${r.sessions} / ${r.verdictRows}`);
  row('unexpected second occurrences', r.unexpectedOccurrences);
  row('rows not completed', r.incompleteRows);
  row('queues at the end (ready, delay, due, sweep, dead)', Object.values(r.stuck).join(', '));
  row('session keys left in Redis', r.sessionKeysLeft);
  for (const [a, g] of Object.entries(r.agentLongestGapMs))
    row(`longest time without a 202, agent ${a.slice(0, 12)}`, `${g} ms`);
  row('sniffer_config → ZooKeeper at the end', r.configDeliveryMs === null ? 'FAILED' : `${r.configDeliveryMs} ms`);
  row('apps not healthy at the end', r.unhealthy.join(', ') || 'none');
  for (const p of r.problems) lines.push(`problem: ${p}`);
  for (const h of r.doubledHistories ?? []) lines.push(h);
  return lines.join('\n');
}
