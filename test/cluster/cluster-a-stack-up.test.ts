// `bash stack/stack.sh up --cluster` on the stack CI has just started (stack.sh up): the Redis Cluster, the RabbitMQ
// cluster, the ZooKeeper ensemble, the Kafka cluster with Connect in distributed mode and HAProxy come up, and
// .stack/run/cluster.env names every one. A file of its own, first of test/cluster in the runner's order, so that the
// start (134 s from a stopped stack, up to 357 s from an empty stack home at load 20-30, most of it the Kafka cluster)
// does not eat the short form's 600 s per file (cluster-e2e.test.ts, next); that file brings the stack up again, which
// takes about 30 s when everything runs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLUSTER_VARIABLES, readClusterEnv } from './cluster-env-file.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

test('stack.sh up --cluster starts every cluster and writes their settings', { timeout: 590_000 }, (t) => {
  const t0 = Date.now();
  const up = spawnSync('bash', [join(repoRoot, 'stack', 'stack.sh'), 'up', '--cluster'], {
    encoding: 'utf8',
    timeout: 580_000,
  });
  assert.equal(up.status, 0, `bash stack/stack.sh up --cluster failed:\n${up.stdout}${up.stderr}`);
  t.diagnostic(`cluster stack up in ${Math.round((Date.now() - t0) / 1000)} s`);
  const env = readClusterEnv();
  for (const name of [
    ...CLUSTER_VARIABLES,
    'FLEETCAP_KAFKA_BROKERS',
    'FLEETCAP_CONNECT_URL',
    'FLEETCAP_SPLITCAP_BALANCER_URL',
    'FLEETCAP_REDIS_WAIT_REPLICAS',
  ])
    assert.ok(env[name], `cluster.env names ${name}`);
  assert.equal(env.FLEETCAP_REDIS_CLUSTER_NODES!.split(',').length, 6, '3 Redis masters and their replicas');
  assert.equal(env.FLEETCAP_AMQP_CLUSTER_NODES!.split(',').length, 3, '3 RabbitMQ nodes');
  assert.equal(env.FLEETCAP_ZK_CONNECT!.split(',').length, 3, '3 ZooKeeper servers');
  assert.equal(env.FLEETCAP_KAFKA_BROKERS!.split(',').length, 3, '3 Kafka brokers');
});
