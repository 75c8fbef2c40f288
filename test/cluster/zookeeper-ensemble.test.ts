// The agents' config path on a real ZooKeeper ensemble (stack/zookeeper-ensemble.sh: 3 servers, configured as the
// stack's single one) while its leader is killed with kill -9: config-sync's ZooKeeper client (its digest login,
// nodes it creates readable by the agent only) keeps writing config revisions, and the listener's own modules
// (ConfigWatch, LiveNode, on a client with the agent's digest login) keep seeing every revision and keep their
// ephemeral live node: both are given the 3-server connect string (FLEETCAP_ZK_CONNECT) and move to a survivor
// within their session timeout, so no session expires. Needs no server of the shared stack.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CONFIGSYNC_ZK_USER } from '@fleetcap/config-sync/zk-acl';
import type { LiveStatus } from '@fleetcap/lib/agent/live-status';
import { createLogger } from '@fleetcap/lib/telemetry/logger';
import { digestId, ZkPermission } from '@fleetcap/lib/zookeeper/acl';
import { ZkClient } from '@fleetcap/lib/zookeeper/client';
import { type ConfigEvent, ConfigWatch } from '@fleetcap/listener/config-watch';
import { LiveNode } from '@fleetcap/listener/live-node';

// Not test/helpers/stack.ts: it reads the shared stack's secrets, which this test does not need.
const repoRoot = join(import.meta.dirname, '..', '..');
const uniqueId = (prefix: string) => `${prefix}-${process.pid}-${Date.now().toString(36)}`;

const script = join(repoRoot, 'stack', 'zookeeper-ensemble.sh');
function ensemble(...args: string[]): string {
  const res = spawnSync('bash', [script, ...args], { encoding: 'utf8', timeout: 180_000 });
  assert.equal(res.status, 0, `stack/zookeeper-ensemble.sh ${args.join(' ')}:\n${res.stdout}${res.stderr}`);
  return res.stdout;
}

const agentId = uniqueId('zke');
const root = `/fleetcap-${agentId}`;
const base = `${root}/agents/${agentId}`;
const configPath = `${base}/config`;
const livePath = `${base}/live`;
const configSyncLogin = `${CONFIGSYNC_ZK_USER}:${'c'.repeat(24)}`;
const agentLogin = `${agentId}:${'a'.repeat(24)}`;
const clients: ZkClient[] = [];
let connect: string;

const lines: Array<Record<string, unknown>> = [];
const log = createLogger('cluster-test', {
  destination: new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)));
      cb();
    },
  }),
  env: {},
});

before(() => {
  ensemble('up');
  connect = ensemble('connect').trim();
  assert.equal(connect.split(',').length, 3);
});

after(async () => {
  for (const c of clients) await c.close().catch(() => {});
  ensemble('down');
});

test("config-sync's writes and the listener's watch and live node outlive kill -9 of the ensemble's leader", {
  timeout: 180_000,
}, async () => {
  const [cfgUser, cfgPass] = configSyncLogin.split(':') as [string, string];
  const [agentUser, agentPass] = agentLogin.split(':') as [string, string];
  // As config-sync's ZkClient (apps/config-sync/src/main.ts): its digest login; nodes it makes are its own, the
  // config node readable by the agent, as zk-acl.ts sets them.
  const configSync = new ZkClient({
    connect,
    sessionTimeoutMs: 10_000,
    auth: [{ scheme: 'digest', credentials: configSyncLogin }],
    acl: [{ scheme: 'digest', id: digestId(cfgUser, cfgPass), permissions: ZkPermission.ALL }],
    log,
  });
  clients.push(configSync);
  await configSync.start();
  const agentAcl = [
    { scheme: 'digest', id: digestId(cfgUser, cfgPass), permissions: ZkPermission.ALL },
    {
      scheme: 'digest',
      id: digestId(agentUser, agentPass),
      permissions: ZkPermission.READ | ZkPermission.CREATE | ZkPermission.DELETE,
    },
  ];
  await configSync.mkdirp(`${root}/agents`);
  await configSync.create(base, null, undefined, agentAcl);
  const configAcl = [agentAcl[0]!, { ...agentAcl[1]!, permissions: ZkPermission.READ }];
  const config = (revision: number) => Buffer.from(JSON.stringify({ agentId, revision }));
  await configSync.create(configPath, config(1), undefined, configAcl);

  // As the listener's ZkClient (apps/listener/src/main.ts): the agent's login, its live node readable by anyone.
  const listener = new ZkClient({
    connect,
    sessionTimeoutMs: 10_000,
    auth: [{ scheme: 'digest', credentials: agentLogin }],
    acl: [
      { scheme: 'digest', id: digestId(agentUser, agentPass), permissions: ZkPermission.ALL },
      { scheme: 'world', id: 'anyone', permissions: ZkPermission.READ },
    ],
    log,
  });
  clients.push(listener);
  const seen: number[] = [];
  const seenAt = new Map<number, number>();
  const watch = new ConfigWatch(listener, configPath);
  watch.on('event', (e: ConfigEvent) => {
    if (e.kind !== 'config') return;
    const { revision } = JSON.parse(e.text) as { revision: number };
    if (!seenAt.has(revision)) seenAt.set(revision, Date.now());
    seen.push(revision);
  });
  const status = (): LiveStatus => ({
    agentId,
    pid: process.pid,
    snifferPid: null,
    hostname: 'cluster-test',
    appliedRevision: seen.at(-1) ?? null,
    state: 'waiting',
    lastError: null,
    counters: {
      captured: 0,
      kernelDrops: 0,
      batchesUploaded: 0,
      spooled: 0,
      spoolDropped: 0,
      spoolDroppedPackets: 0,
      rejected: 0,
    },
    updatedAt: new Date().toISOString(),
  });
  const live = new LiveNode(listener, livePath, status, log);
  await listener.start();
  live.start(200);
  const sessionBefore = listener.sessionId();
  const configSyncSessionBefore = configSync.sessionId();
  for (let i = 0; i < 50 && !(await configSync.exists(livePath)); i++) await sleep(100);
  assert.ok(await configSync.exists(livePath), 'the live node is there before the kill');

  // An anonymous client is refused the config node on the ensemble as on one server.
  const anonymous = new ZkClient({ connect, sessionTimeoutMs: 10_000 });
  clients.push(anonymous);
  await anonymous.start();
  await assert.rejects(anonymous.getData(configPath), /NO_AUTH|NoAuth|Not authenticated/i);

  // config-sync writes a revision every 100 ms; the leader is killed after the 10th.
  const leader = Number(ensemble('leader').trim());
  let revision = 1;
  let failedWrites = 0;
  let killedAt = 0;
  let firstWriteAfterKillMs: number | undefined;
  while (revision < 40) {
    if (revision === 10 && !killedAt) {
      ensemble('kill', String(leader));
      killedAt = Date.now();
    }
    try {
      await configSync.setData(configPath, config(revision + 1));
      revision++;
      if (killedAt && firstWriteAfterKillMs === undefined) firstWriteAfterKillMs = Date.now() - killedAt;
    } catch {
      failedWrites++;
      await sleep(100);
      continue;
    }
    await sleep(100);
  }
  for (let i = 0; i < 100 && seen.at(-1) !== revision; i++) await sleep(100);
  const firstSeenAfterKill = [...seenAt.entries()].find(([, at]) => at > killedAt);
  const liveAfter = await configSync.exists(livePath);
  const newLeader = Number(ensemble('leader').trim());
  console.log(
    `# kill -9 of the leader (server ${leader}; server ${newLeader} leads now): config-sync wrote again after ` +
      `${firstWriteAfterKillMs} ms (${failedWrites} write(s) refused meanwhile); the listener saw revision ` +
      `${firstSeenAfterKill?.[0]} ${firstSeenAfterKill ? firstSeenAfterKill[1] - killedAt : '-'} ms after the kill, and ` +
      `the last, ${seen.at(-1)}, of ${revision}; sessions kept: config-sync ${configSync.sessionId() === configSyncSessionBefore}, listener ${listener.sessionId() === sessionBefore}`,
  );
  watch.stop();
  live.stop();
  await live.remove().catch(() => {});
  ensemble('start', String(leader));

  assert.equal(seen.at(-1), revision, 'the listener saw the last revision config-sync wrote');
  assert.notEqual(newLeader, leader);
  assert.ok(liveAfter, 'the live node outlived the kill (the session did not expire)');
  assert.equal(listener.sessionId(), sessionBefore, "the listener's session is the same one");
  assert.equal(configSync.sessionId(), configSyncSessionBefore, "config-sync's session is the same one");
  assert.ok(firstWriteAfterKillMs !== undefined && firstWriteAfterKillMs < 10_000, 'writes resume within 10 s');
  assert.equal(
    lines.filter((l) => l.level !== undefined && Number(l.level) >= 50).length,
    0,
    `no error logged: ${JSON.stringify(lines.filter((l) => Number(l.level) >= 50))}`,
  );
});
