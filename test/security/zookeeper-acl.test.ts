// Attacks on the agents' ZooKeeper nodes, against the real ZooKeeper and a real config-sync with ACLs (digest
// scheme; its password from a 0600 file, the agents' digests from the real agent_credential table, enrolled with the
// real `fleetcap agents` command), under a root of its own: an anonymous client writes nothing and reads no config
// under the root; an agent reads its own config only, writes no config, and no other agent's live node; a config node
// pushed ahead of the table (revision 2^53-1) is not trusted and repaired from the table at the next event; a revoked
// agent loses its config and its live node within 5 s. ZooKeeper refuses with NO_AUTH; config-sync's side is logged
// with a code and counted (fleetcap_config_sync_nodes_repaired_total, fleetcap_config_sync_acl_updates_total).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentPaths } from '@fleetcap/lib/agent/paths';
import { agentOwnedAcl, zkAuthCredentials } from '@fleetcap/lib/auth/agent-credential';
import { stackHome } from '@fleetcap/lib/config/secrets';
import { digestId, refusalLogEntry } from '@fleetcap/lib/zookeeper/acl';
import type { ZkClient } from '@fleetcap/lib/zookeeper/client';
import { isZkError, ZkCode } from '@fleetcap/lib/zookeeper/errors';
import { deleteAgentRows, deleteConsumerGroups, waiterFor } from '../helpers/config-sync.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { enroll, fleetcap, metricValue, removeCredentials } from '../helpers/security.ts';
import { assertStackUp, mariadbCli, removeZkTree, uniqueId, zkConnect } from '../helpers/stack.ts';

const root = `/fleetcap-sec-${randomBytes(4).toString('hex')}`;
const paths = new AgentPaths(root);
const agentPrefix = uniqueId('seczk');
const [agentA, agentB] = [`${agentPrefix}-a`, `${agentPrefix}-b`];
const group = uniqueId('itest-seczk');
const work = mkdtempSync(join(tmpdir(), 'fleetcap-sec-zk-'));
const password = randomBytes(24).toString('base64url');
const passwordFile = join(work, 'zk-configsync.password');
const secrets: Record<string, string> = {};
let app: RunningApp;
let admin: ZkClient;
let anonymous: ZkClient;
let asA: ZkClient;
let asB: ZkClient;

const waitFor = waiterFor(() => `config-sync:\n${app?.output().slice(-3000)}`, 20000);

async function noAuth(what: string, call: Promise<unknown>): Promise<void> {
  await assert.rejects(call, (err: unknown) => {
    assert.ok(isZkError(err, ZkCode.NO_AUTH), `${what}: expected NO_AUTH, got ${String(err)}`);
    return true;
  });
}

const zkLog = join(stackHome(), 'logs', 'zookeeper.log');

/**
 * ZooKeeper's audit log (audit.enable, stack/stack.sh) logs each refused change with its session's users and address:
 * waits for the line of `operation` on `znode` with result=failure by a session whose users match `user`.
 */
async function auditedRefusal(operation: string, znode: string, user: RegExp): Promise<void> {
  const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const line = new RegExp(
    `user=([^\t]*)\tip=[^\t]*\toperation=${operation}\tznode=${esc(znode)}\t(?:[^\n]*\t)?result=failure`,
    'g',
  );
  const deadline = Date.now() + 5000;
  for (;;) {
    const users = [...readFileSync(zkLog, 'utf8').matchAll(line)].map((m) => m[1]!);
    if (users.some((u) => user.test(u))) return;
    if (Date.now() > deadline)
      assert.fail(
        `no audit line of a refused ${operation} on ${znode} by ${user} in ${zkLog} (users seen: ${users.join('; ')})`,
      );
    await sleep(200);
  }
}

async function metrics(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
}

function insertConfig(agentId: string): void {
  mariadbCli(
    `INSERT INTO sniffer_config (agent_id, device, bpf_filter, splitcap_url) VALUES ('${agentId}', 'lo', 'udp port 9', 'https://127.0.0.1:9')`,
  );
}

before(async () => {
  assertStackUp();
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  secrets[agentA] = enroll('add', agentA, work);
  secrets[agentB] = enroll('add', agentB, work);
  insertConfig(agentA);
  insertConfig(agentB);
  app = await startApp(
    'config-sync',
    {
      FLEETCAP_CONFIG_SYNC_PORT: '0',
      FLEETCAP_CONFIG_SYNC_GROUP: group,
      FLEETCAP_ZK_ROOT: root,
      FLEETCAP_ZK_CONFIGSYNC_PASSWORD_FILE: passwordFile,
      FLEETCAP_CONFIG_SYNC_CREDENTIAL_POLL_MS: '500',
    },
    30000,
  );
  admin = await zkConnect({ auth: [{ scheme: 'digest', credentials: `fleetcap-configsync:${password}` }] });
  anonymous = await zkConnect({ anonymous: true });
  // Each agent's client as its listener opens it: its credential, and the ACL of the nodes it creates.
  const asAgent = (agent: string) =>
    zkConnect({
      auth: [{ scheme: 'digest', credentials: zkAuthCredentials(agent, secrets[agent]!) }],
      acl: agentOwnedAcl(agent, secrets[agent]!),
    });
  asA = await asAgent(agentA);
  asB = await asAgent(agentB);
  // The startup reconcile writes both configs.
  for (const agent of [agentA, agentB])
    await waitFor(`${agent}'s config node`, () => admin.getData(paths.config(agent)));
});

after(async () => {
  await app?.stop();
  for (const agent of [agentA, agentB]) deleteAgentRows(agent);
  removeCredentials(agentPrefix);
  if (admin) await removeZkTree(admin, root);
  for (const zk of [admin, anonymous, asA, asB]) await zk?.close();
  await deleteConsumerGroups([group]);
  rmSync(work, { recursive: true, force: true });
});

describe('anonymous clients', () => {
  test('write nothing under the root', async () => {
    await noAuth('create under the root', anonymous.create(`${root}/evil`, Buffer.from('x')));
    await noAuth('create an agent', anonymous.create(`${paths.agents}/evil`, Buffer.from('x')));
    await noAuth(
      'rewrite a config',
      anonymous.setData(paths.config(agentA), Buffer.from('{"splitcapUrl":"http://evil"}')),
    );
    await noAuth('delete a config', anonymous.remove(paths.config(agentA)));
    await noAuth('create a live node', anonymous.create(`${paths.agent(agentA)}/live`, Buffer.from('{}')));
    // Logged by ZooKeeper (its audit log: who, from where, what, refused). ZooKeeper 3.8 counts no ACL refusal: the
    // refusal exporter counts each, reads included (server-refusals.test.ts); a fleetcap client counts those it meets
    // (fleetcap_listener_zookeeper_refusals, agent-host.test.ts).
    const anonymousUser = /^127\.0\.0\.1$/;
    await auditedRefusal('create', `${root}/evil`, anonymousUser);
    await auditedRefusal('setData', paths.config(agentA), anonymousUser);
    await auditedRefusal('delete', paths.config(agentA), anonymousUser);
  });

  test('read no agent config, and cannot list the agents', async () => {
    await noAuth('read a config', anonymous.getData(paths.config(agentA)));
    await noAuth('list the agents', anonymous.getChildren(paths.agents));
    const acl = await admin.getAcl(root);
    assert.deepEqual(
      acl?.map((e) => `${e.scheme}:${e.id.split(':')[0]}`),
      ['digest:fleetcap-configsync', `ip:${refusalLogEntry.id}`],
      'the root is config-sync’s alone (then the refusal log’s entry, which grants nothing: withRefusalLog)',
    );
  });
});

describe('an agent', () => {
  test('reads its own config, and cannot write it', async () => {
    const own = await asA.getData(paths.config(agentA));
    assert.equal(JSON.parse(String(own?.data)).agentId, agentA);
    await noAuth('rewrite its own config', asA.setData(paths.config(agentA), Buffer.from('{}')));
  });

  test("reads no other agent's config, and writes none", async () => {
    await noAuth("read B's config", asA.getData(paths.config(agentB)));
    await noAuth("rewrite B's config", asA.setData(paths.config(agentB), Buffer.from('{}')));
    await noAuth("delete B's config", asA.remove(paths.config(agentB)));
    await auditedRefusal('setData', paths.config(agentB), new RegExp(`(^|,)agent\\.${agentA}(,|$)`));
  });

  test("writes its own live node, and not another agent's", async () => {
    await asA.createEphemeral(paths.live(agentA), Buffer.from('{"agentId":"a"}'));
    await asB.createEphemeral(paths.live(agentB), Buffer.from('{"agentId":"b"}'));
    await noAuth("overwrite B's live node", asA.setData(paths.live(agentB), Buffer.from('{}')));
    await auditedRefusal('setData', paths.live(agentB), new RegExp(`(^|,)agent\\.${agentA}(,|$)`));
    await noAuth("delete B's live node", asA.remove(paths.live(agentB)));
    await noAuth("create a node under B's", asA.create(`${paths.agent(agentB)}/x`, Buffer.from('{}')));
    await asA.setData(paths.live(agentA), Buffer.from('{"agentId":"a","n":2}'));
  });
});

describe('config-sync', () => {
  test('does not trust a config node ahead of the table: the next event repairs it from the table (logged, counted)', async () => {
    // As if written before ACLs, or by hand with config-sync's own credential: revision 2^53-1.
    const node = await admin.getData(paths.config(agentA));
    const forged = {
      ...JSON.parse(String(node?.data)),
      revision: Number.MAX_SAFE_INTEGER,
      splitcapUrl: 'https://evil.example:443',
    };
    await admin.setData(paths.config(agentA), Buffer.from(JSON.stringify(forged)));
    mariadbCli(`UPDATE sniffer_config SET batch_ms = 321 WHERE agent_id = '${agentA}'`);
    const table = Number(mariadbCli(`SELECT revision FROM sniffer_config WHERE agent_id = '${agentA}'`).trim());
    const repaired = await waitFor('the node repaired from the table', async () => {
      const j = JSON.parse(String((await admin.getData(paths.config(agentA)))?.data));
      return j.revision === table && j.batchMs === 321 ? j : null;
    });
    assert.equal(repaired.splitcapUrl, 'https://127.0.0.1:9');
    assert.ok(
      metricValue(await metrics(), 'fleetcap_config_sync_nodes_repaired_total', { why: 'revision-ahead' }) >= 1,
    );
    assert.match(app.output(), /"code":"config-sync\.node-ahead-of-table"/);
  });

  test('a revoked agent can no longer read its config and loses its live node within 5 s', async () => {
    const t0 = Date.now();
    fleetcap(['agents', 'revoke', agentA]);
    await waitFor(
      'A refused its own config',
      () =>
        asA.getData(paths.config(agentA)).then(
          () => false,
          (err) => isZkError(err, ZkCode.NO_AUTH),
        ),
      5000,
    );
    await waitFor("A's live node removed", async () => (await admin.exists(paths.live(agentA))) === null, 5000);
    console.log(`# revocation in force in ZooKeeper ${Date.now() - t0} ms after fleetcap agents revoke was started`);
    await noAuth('re-create its live node', asA.createEphemeral(paths.live(agentA), Buffer.from('{}')));
    assert.ok(metricValue(await metrics(), 'fleetcap_config_sync_acl_updates_total', { node: 'live-removed' }) >= 1);
    // B is untouched.
    assert.equal(JSON.parse(String((await asB.getData(paths.config(agentB)))?.data)).agentId, agentB);
  });
});

test("config-sync's ZooKeeper password rotates: started with the new one and the previous one, it moves every ACL to the new", async () => {
  await app.stop();
  const next = randomBytes(24).toString('base64url');
  const nextFile = join(work, 'zk-configsync.next');
  writeFileSync(nextFile, `${next}\n`, { mode: 0o600 });
  app = await startApp(
    'config-sync',
    {
      FLEETCAP_CONFIG_SYNC_PORT: '0',
      FLEETCAP_CONFIG_SYNC_GROUP: group,
      FLEETCAP_ZK_ROOT: root,
      FLEETCAP_ZK_CONFIGSYNC_PASSWORD_FILE: nextFile,
      FLEETCAP_ZK_CONFIGSYNC_PREVIOUS_PASSWORD_FILE: passwordFile,
    },
    30000,
  );
  const wanted = digestId('fleetcap-configsync', next);
  const old = digestId('fleetcap-configsync', password);
  const nextAdmin = await zkConnect({ auth: [{ scheme: 'digest', credentials: `fleetcap-configsync:${next}` }] });
  for (const path of [root, paths.agents, paths.agent(agentB), paths.config(agentB)])
    await waitFor(`${path} administered by the new password`, async () => {
      const acl = (await nextAdmin.getAcl(path)) ?? [];
      return acl.some((e) => e.id === wanted) && !acl.some((e) => e.id === old);
    });
  // B still reads its config under the new ACLs.
  assert.equal(JSON.parse(String((await asB.getData(paths.config(agentB)))?.data)).agentId, agentB);
  await noAuth(
    'the old password administers nothing any more',
    admin.setAcl(paths.config(agentB), [{ scheme: 'world', id: 'anyone', permissions: 31 }]),
  );
  // The tree is removed in after() with the new password.
  await admin.close();
  admin = nextAdmin;
});
