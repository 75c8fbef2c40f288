// The configuration path on a real Kafka cluster (stack/kafka-cluster.sh: 3 KRaft brokers, sniffer_config replicated
// 3 times with min ISR 2, Kafka Connect in distributed mode with 2 workers running the stack's Debezium connector
// against the stack's MariaDB) and two config-sync processes in one consumer group, writing the stack's ZooKeeper.
// While UPDATEs of sniffer_config flow (every agent's row, every 400 ms), three losses by kill -9, each once the one
// before has recovered: the broker leading a partition of sniffer_config, the Connect worker running the connector's
// task, one of the two config-syncs; each is started again while the next loss is made. Checked: every change reaches
// ZooKeeper (each agent's config node holds its row's last revision, and its version says every revision was set
// exactly once), no agent's watch ever sees its revision go back, and the topic holds every change. Printed: each
// loss's time to recover, what config-sync applied again, and what Connect sent twice.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { snifferConfigTopic } from '@fleetcap/lib/cdc/debezium-connector';
import { ZkClient } from '@fleetcap/lib/zookeeper/client';
import { type ConfigEvent, ConfigWatch } from '@fleetcap/listener/config-watch';
import { Kafka, logLevel } from 'kafkajs';
import type mysql from 'mysql2/promise';
import { agentsOnEveryPartition, configSyncGroupEnv, waiterFor } from '../helpers/config-sync.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { assertStackUp, connections, mysqlAs, repoRoot, uniqueId } from '../helpers/stack.ts';

const script = `${repoRoot}/stack/kafka-cluster.sh`;
function cluster(...args: string[]): string {
  const res = spawnSync('bash', [script, ...args], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(res.status, 0, `stack/kafka-cluster.sh ${args.join(' ')}:\n${res.stdout}${res.stderr}`);
  return res.stdout;
}

/**
 * The same, without blocking this process while it runs: the config-syncs write their logs to pipes this process
 * reads, and a watch's events must be timed when they come, not when a blocking call returns.
 */
/**
 * kill -9 of node n's process by its pid file, as `kafka-cluster.sh kill n` does, here so that the kill's moment is
 * known to the millisecond (the script's own start would blur it by the time bash takes to start on a loaded machine).
 */
function killNode(n: number): void {
  const home = process.env.FLEETCAP_STACK_HOME ?? `${repoRoot}/.stack`;
  const pid = Number(readFileSync(`${home}/kafka-cluster/node-${n}/server.pid`, 'utf8').trim());
  assert.ok(pid > 0, `node ${n} has a pid file`);
  process.kill(pid, 'SIGKILL');
}

async function clusterAsync(...args: string[]): Promise<string> {
  try {
    return (await promisify(execFile)('bash', [script, ...args], { encoding: 'utf8', timeout: 300_000 })).stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `stack/kafka-cluster.sh ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`,
    );
  }
}

const run = uniqueId('kfc');
const topic = snifferConfigTopic(connections.mysql.database);
// Two agents on each of the three partitions.
const agents = agentsOnEveryPartition(run);
const configPath = (id: string) => `/fleetcap/agents/${id}/config`;

let brokers: string;
let db: mysql.Connection;
let zk: ZkClient;
let apps: RunningApp[] = [];
const group = `itest-${run}`;
// The stream alone (configSyncGroupEnv: no reconcile to fill a gap the losses would leave).
const appEnv = () => configSyncGroupEnv(group, { FLEETCAP_KAFKA_BROKERS: brokers });
const waitFor = waiterFor(() => apps.map((a) => a.output().slice(-3000)).join('\n---\n'), 60_000);

// What the agents see: each agent's config node watched as the listener watches it (ConfigWatch), every revision
// read and when it was first seen.
const seen = new Map<string, number[]>(agents.map((a) => [a, []]));
const firstSeenAt = new Map<string, Map<number, number>>(agents.map((a) => [a, new Map()]));
const watches: ConfigWatch[] = [];

// The writer: one UPDATE of every agent's row per round; round k leaves every row at revision k + 1.
const committedAt: number[] = [];
let writing = true;
let rounds = 0;
async function writer(): Promise<void> {
  const list = agents.map((a) => `'${a}'`).join(',');
  while (writing) {
    await db.query(
      `UPDATE sniffer_config SET bpf_filter = 'port ${1000 + (rounds % 60000)}' WHERE agent_id IN (${list})`,
    );
    rounds++;
    committedAt[rounds + 1] = Date.now();
    await sleep(400);
  }
}

async function eventsByOutcome(app: RunningApp): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^fleetcap_config_sync_events_total\{outcome="(\w+)"[^}]*\} (\d+)/gm))
    out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  return out;
}

/**
 * How long after `at` every agent's node held a revision committed after it: the time to recover. The worst agent
 * counts (a broker's loss touches only the partitions it led).
 */
function recoveredAfter(at: number): number | null {
  const firstAfter = committedAt.findIndex((t) => t !== undefined && t > at);
  if (firstAfter < 0) return null;
  let worst = 0;
  for (const a of agents) {
    const times = [...firstSeenAt.get(a)!.entries()].filter(([rev]) => rev >= firstAfter).map(([, t]) => t);
    if (times.length === 0) return null;
    worst = Math.max(worst, Math.min(...times) - at);
  }
  return worst;
}

/** The longest a revision committed in [from, to) took to be seen in ZooKeeper, and the median. */
function lagDuring(from: number, to: number): { max: number; median: number } {
  const lags: number[] = [];
  for (let rev = 2; rev < committedAt.length; rev++) {
    const t = committedAt[rev];
    if (t === undefined || t < from || t >= to) continue;
    for (const a of agents) {
      const seenAt = [...firstSeenAt.get(a)!.entries()].filter(([r]) => r >= rev).map(([, s]) => s);
      if (seenAt.length) lags.push(Math.min(...seenAt) - t);
    }
  }
  lags.sort((x, y) => x - y);
  return { max: lags.at(-1) ?? Number.NaN, median: lags[Math.floor(lags.length / 2)] ?? Number.NaN };
}

before(async () => {
  assertStackUp();
  cluster('up');
  brokers = cluster('brokers').trim();
  assert.equal(brokers.split(',').length, 3);
  db = await mysqlAs('admin');
  zk = new ZkClient({ connect: connections.zookeeper, sessionTimeoutMs: 10_000 });
  for (const a of agents) {
    const w = new ConfigWatch(zk, configPath(a));
    w.on('event', (e: ConfigEvent) => {
      if (e.kind !== 'config') return;
      const rev = Number(JSON.parse(e.text).revision);
      seen.get(a)!.push(rev);
      const at = firstSeenAt.get(a)!;
      if (!at.has(rev)) at.set(rev, Date.now());
    });
    watches.push(w);
  }
  await zk.start();
});

after(async () => {
  // The cluster goes down whatever failed before (a cluster left running holds 1 GB and its ports).
  try {
    writing = false;
    for (const w of watches) w.stop();
    const list = agents.map((a) => `'${a}'`).join(',');
    await Promise.all(apps.map((a) => a.stop()));
    if (db) {
      await db.query(`DELETE FROM sniffer_config WHERE agent_id IN (${list})`).catch(() => undefined);
      await db.query(`DELETE FROM agent_status WHERE agent_id IN (${list})`).catch(() => undefined);
      await db.end();
    }
    if (zk) {
      for (const a of agents) {
        await zk.remove(configPath(a)).catch(() => undefined);
        await zk.remove(`/fleetcap/agents/${a}`).catch(() => undefined);
      }
      await zk.close();
    }
    if (brokers) {
      const admin = new Kafka({
        clientId: 'itest-cleanup',
        brokers: brokers.split(','),
        logLevel: logLevel.NOTHING,
      }).admin();
      await admin.connect().catch(() => undefined);
      await admin.deleteGroups([group]).catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    }
  } finally {
    cluster('down');
  }
});

test('every sniffer_config change reaches ZooKeeper, in order, through kill -9 of a broker, a Connect worker and a config-sync', {
  timeout: 420_000,
}, async () => {
  apps = await Promise.all([startApp('config-sync', appEnv(), 60_000), startApp('config-sync', appEnv(), 60_000)]);
  await db.query(
    `INSERT INTO sniffer_config (agent_id, device, splitcap_url) VALUES ${agents.map((a) => `('${a}', 'eth0', 'http://127.0.0.1:9')`).join(',')}`,
  );
  await waitFor('every agent at revision 1', async () => agents.every((a) => seen.get(a)!.includes(1)));
  const flowing = writer();
  const report: string[] = [];
  const losses: Array<{ what: string; recoveredMs: number | null }> = [];

  // One loss: kill, let the updates flow until every agent has a revision made after the kill (and 1 s more), then
  // start the node again, still under updates. The restart runs on while the next loss is made (a JVM takes a minute
  // to start on this loaded machine); every restart is awaited before the end, and must leave its node whole.
  const restarts: Array<Promise<void>> = [];
  async function lose(
    what: string,
    kill: () => void,
    restart: () => Promise<void>,
    redelivered: () => Promise<string>,
  ) {
    await sleep(1000);
    const before = await redelivered();
    const killedAt = Date.now();
    kill();
    const recoveredMs = await waitFor(
      `every agent served after the loss of ${what}`,
      async () => recoveredAfter(killedAt),
      120_000,
    );
    await sleep(1000);
    const lag = lagDuring(killedAt, Date.now());
    const after = await redelivered();
    losses.push({ what, recoveredMs });
    const restartAt = Date.now();
    const restarted = restart().then(() => {
      report.push(
        `# kill -9 of ${what}: every agent's node held a change made after the kill ${recoveredMs} ms later; ` +
          `lag of the changes made until 1 s after that: median ${lag.median} ms, max ${lag.max} ms; ` +
          `config-sync's events ${before} -> ${after}; restarted and whole again ${((Date.now() - restartAt) / 1000).toFixed(1)} s later`,
      );
    });
    restarted.catch(() => undefined); // awaited below, with the others
    restarts.push(restarted);
  }

  // What config-sync's instances counted so far: an event applied again is `unchanged` (same revision) or `stale`.
  const counts = async () =>
    (await Promise.all(apps.map((a) => eventsByOutcome(a).catch(() => ({}) as Record<string, number>))))
      .map((c) => `{updated ${c.updated ?? 0}, unchanged ${c.unchanged ?? 0}, stale ${c.stale ?? 0}}`)
      .join(' + ');

  const leader = Number((await clusterAsync('leader', '0')).trim());
  await lose(
    `broker ${leader} (leader of ${topic}/0)`,
    () => killNode(leader),
    async () => {
      await clusterAsync('start', String(leader));
    },
    counts,
  );

  const taskNode = Number((await clusterAsync('task-node')).trim());
  await lose(
    `Connect worker ${taskNode - 3} (running the connector's task)`,
    () => killNode(taskNode),
    async () => {
      await clusterAsync('start', String(taskNode));
    },
    counts,
  );

  const victim = apps[0]!;
  await lose(
    `config-sync pid ${victim.child.pid}`,
    () => victim.child.kill('SIGKILL'),
    async () => {
      apps = [apps[1]!, await startApp('config-sync', appEnv(), 60_000)];
    },
    counts,
  );

  await Promise.all(restarts);
  await sleep(2000);
  writing = false;
  await flowing;
  const [rows] = (await db.query(
    `SELECT agent_id, revision FROM sniffer_config WHERE agent_id IN (${agents.map((a) => `'${a}'`).join(',')})`,
  )) as [Array<{ agent_id: string; revision: number }>, unknown];
  const last = new Map(rows.map((r) => [r.agent_id, Number(r.revision)]));
  await waitFor('every agent at its row’s last revision', async () =>
    agents.every((a) => seen.get(a)!.at(-1) === last.get(a)),
  );

  // What the topic holds of these agents: a revision in it twice is one Connect delivered again (Debezium resuming
  // from its last flushed offset after the worker's loss).
  const consumer = new Kafka({ clientId: 'itest', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).consumer({
    groupId: `${group}-audit`,
  });
  const inTopic = new Map<string, number>();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let lastMessageAt = Date.now();
  await consumer.run({
    eachMessage: async ({ message }) => {
      lastMessageAt = Date.now();
      const key = message.key?.toString() ?? '';
      const id = agents.find((a) => key.includes(`"${a}"`));
      if (!id || !message.value) return;
      const after = JSON.parse(String(message.value)).after as { revision?: number } | null;
      if (after?.revision === undefined) return;
      const k = `${id}@${after.revision}`;
      inTopic.set(k, (inTopic.get(k) ?? 0) + 1);
    },
  });
  await waitFor('the topic read to its end', async () => Date.now() - lastMessageAt > 3000 && inTopic.size > 0, 60_000);
  await consumer.disconnect();
  const admin = new Kafka({ clientId: 'itest', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.deleteGroups([`${group}-audit`]).catch(() => undefined);
  await admin.disconnect();
  const twice = [...inTopic.values()].filter((n) => n > 1).length;

  for (const line of report) console.log(line);
  console.log(
    `# ${rounds} rounds of UPDATEs of ${agents.length} rows (revisions 2-${rounds + 1}); the topic holds ` +
      `${inTopic.size} distinct (agent, revision) changes, ${twice} of them more than once (sent again by Connect)`,
  );

  for (const a of agents) {
    const revs = seen.get(a)!;
    for (let i = 1; i < revs.length; i++)
      assert.ok(revs[i]! >= revs[i - 1]!, `${a}'s node went back from revision ${revs[i - 1]} to ${revs[i]}`);
    const node = await zk.getData(configPath(a));
    assert.ok(node, `${a} has its config node`);
    assert.equal(
      Number(JSON.parse(String(node.data)).revision),
      last.get(a),
      `${a}'s node holds its row's last revision`,
    );
    // Created at revision 1 (version 0), then one setData per revision: a revision set twice, or one missed and
    // another set in its place, would show here.
    assert.equal(node.stat.version, last.get(a)! - 1, `${a}'s node was set once per revision`);
  }
  assert.equal(inTopic.size, agents.length * (rounds + 1), 'the topic holds every change of every agent');
  for (const l of losses) assert.ok(l.recoveredMs !== null && l.recoveredMs < 90_000, `${l.what}: recovered`);
});
