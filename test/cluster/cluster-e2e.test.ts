// The cluster run's short form, part of the default integration run: the file brings the cluster stack up (bash stack/stack.sh up --cluster,
// about 30 s with everything running: cluster-a-stack-up.test.ts, before it, did the start itself), then one loss of
// each kind while two agents upload at half the long form's rate: kill -9 of a Redis master, a RabbitMQ node, the
// ZooKeeper leader, a splitcap behind HAProxy and a Kafka broker, each restarted after 4 s down and watched 4 s from
// its restart, which goes on while the next loss (another cluster's) is played; every restart is waited for before the
// last calm. Then every acknowledged packet is in exactly one verdict row, nothing is stuck, configs still reach
// ZooKeeper (also while the ZooKeeper leader and the Kafka broker are down), both agents kept uploading and every app
// is healthy (test/cluster/cluster-run.ts). What each loss cost (202 again after, longest gap, batches retried,
// messages redelivered, the node's restart, a config's way to ZooKeeper) is printed as the report's table. The long
// form (rounds, longer downs, the full rate) is a command: node --import tsx --conditions=fleetcap-source
// test/cluster/run.ts --rounds 3 (docs/OPERATIONS.md). It leaves the cluster stack up: the cluster files after it
// (kafka-cluster, rabbitmq-cluster, ...) find their clusters running and take each down at their end.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readClusterEnv } from './cluster-env-file.ts';

/** The nodes of cluster.env (host:port lists and URLs) that refuse a TCP connection; every one when there is none. */
async function nodesNotListening(env: Record<string, string>): Promise<string[]> {
  const addresses = [
    'FLEETCAP_REDIS_CLUSTER_NODES',
    'FLEETCAP_AMQP_CLUSTER_NODES',
    'FLEETCAP_ZK_CONNECT',
    'FLEETCAP_KAFKA_BROKERS',
    'FLEETCAP_CONNECT_URL',
  ].flatMap((name) =>
    env[name] ? env[name].split(',').map((a) => a.replace(/^\w+:\/\//, '').replace(/\/.*$/, '')) : [name],
  );
  const refused = await Promise.all(
    addresses.map(
      (a) =>
        new Promise<string | null>((resolve) => {
          const [host, port] = a.split(':');
          if (!port) return resolve(a);
          const socket = connect({ host, port: Number(port), timeout: 3000 });
          socket.once('connect', () => {
            socket.destroy();
            resolve(null);
          });
          socket.once('timeout', () => {
            socket.destroy();
            resolve(a);
          });
          socket.once('error', () => resolve(a));
        }),
    ),
  );
  return refused.filter((a): a is string => a !== null);
}

const seed = Number(process.env.FLEETCAP_CLUSTER_SEED ?? 15);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

// The runner gives a file 600 s: the run took 250-420 s at load 20-40 (docs/OPERATIONS.md, "The cluster run's results").
test(`cluster run, short form (seed ${seed}): a node of each cluster lost and back, no packet lost or doubled`, {
  timeout: 590_000,
}, async (t) => {
  const t0 = Date.now();
  // `up --cluster` took 105 s at load 40 even with every cluster running (installs, migrations, the connector): run
  // only when a node of cluster.env does not answer (cluster-a-stack-up.test.ts has just started them all).
  const down = await nodesNotListening(readClusterEnv());
  if (down.length > 0) {
    t.diagnostic(`not answering: ${down.join(', ')}; bash stack/stack.sh up --cluster`);
    const up = spawnSync('bash', [join(repoRoot, 'stack', 'stack.sh'), 'up', '--cluster'], {
      encoding: 'utf8',
      timeout: 300_000,
    });
    assert.equal(up.status, 0, `bash stack/stack.sh up --cluster failed:\n${up.stdout}${up.stderr}`);
    t.diagnostic(`cluster stack up in ${Math.round((Date.now() - t0) / 1000)} s`);
  }
  // Loaded after `up`: the run's connections come from the cluster.env it wrote (test/cluster/cluster-env.ts).
  const { assertClusterStack } = await import('./cluster-env.ts');
  const { LOSS_KINDS, failedClusterChecks, formatClusterReport, runCluster } = await import('./cluster-run.ts');
  assertClusterStack();
  const report = await runCluster({
    seed,
    rounds: 1,
    downMs: 4000,
    calmMs: 5000,
    settleMs: 4000,
    batchIntervalMs: 600,
    overlapRestarts: true,
    log: (l) => t.diagnostic(l),
  });
  const table = formatClusterReport(report);
  for (const line of table.split('\n')) t.diagnostic(line);
  assert.deepEqual(failedClusterChecks(report), [], table);
  assert.ok(report.kafkaCluster, 'the run used the Kafka cluster (FLEETCAP_KAFKA_BROKERS from cluster.env)');
  assert.deepEqual(
    report.losses.map((l) => l.kind),
    [...LOSS_KINDS],
    'one loss of each kind was played',
  );
  assert.ok(report.packets.accepted > 500, `traffic flowed: ${report.packets.accepted} packets acknowledged`);
  t.diagnostic(`short form with the start: ${Math.round((Date.now() - t0) / 1000)} s`);
});
