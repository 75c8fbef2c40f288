// Every refusal by a server is counted and logged, against the real servers of the stack and its refusal exporter
// (apps/refusal-exporter, started by `stack up`): ZooKeeper (3.8 counts none and logs no refused read; its refusal
// log is stack/zookeeper/AclRefusalLog.java) refuses an agent reading another agent's config, writing another agent's
// live node, a wrong password and an anonymous client, on nodes with the ACLs config-sync sets (ZkAclPolicy);
// MariaDB (whose Access_denied_errors counts refused tables, not columns) refuses the report account a column. Each
// shows in fleetcap_server_refusals_total{server,user,kind,operation}, once, and in a log line of the exporter
// saying who (user, client), what (operation, kind) and where (node, table, column).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AclSync, CONFIGSYNC_ZK_USER, ZkAclPolicy } from '@fleetcap/config-sync/zk-acl';
import { AgentPaths } from '@fleetcap/lib/agent/paths';
import {
  agentOwnedAcl,
  credentialVerifiers,
  newAgentSecret,
  zkAuthCredentials,
} from '@fleetcap/lib/auth/agent-credential';
import { stackSecretsDir } from '@fleetcap/lib/config/secrets';
import { digestId } from '@fleetcap/lib/zookeeper/acl';
import type { ZkClient } from '@fleetcap/lib/zookeeper/client';
import { isZkError, ZkCode } from '@fleetcap/lib/zookeeper/errors';
import { refusalExporter, refusalLogLine, serverRefusals, waitForServerRefusals } from '../helpers/security.ts';
import { assertStackUp, mysqlAs, removeZkTree, uniqueId, zkConnect } from '../helpers/stack.ts';

const root = `/fleetcap-secref-${randomBytes(4).toString('hex')}`;
const paths = new AgentPaths(root);
const prefix = uniqueId('secref');
const [agentA, agentB] = [`${prefix}-a`, `${prefix}-b`];
const secrets = { [agentA]: newAgentSecret(), [agentB]: newAgentSecret() };
const clients: ZkClient[] = [];
let admin: ZkClient;

async function noAuth(what: string, call: Promise<unknown>): Promise<void> {
  await assert.rejects(call, (err: unknown) => {
    assert.ok(isZkError(err, ZkCode.NO_AUTH), `${what}: expected NO_AUTH, got ${String(err)}`);
    return true;
  });
}

async function asAgent(agent: string, secret = secrets[agent]!): Promise<ZkClient> {
  const zk = await zkConnect({
    auth: [{ scheme: 'digest', credentials: zkAuthCredentials(agent, secret) }],
    acl: agentOwnedAcl(agent, secret),
  });
  clients.push(zk);
  return zk;
}

/** Counted exactly once (these users are this file's own), and logged with who, what and where. */
async function countedAndLogged(labels: Record<string, string>, object: string): Promise<void> {
  assert.equal(await waitForServerRefusals(labels, 1), 1, `${JSON.stringify(labels)} counted once`);
  const line = await refusalLogLine({ code: 'refusal-exporter.zookeeper-refusal', user: labels.user, object });
  assert.deepEqual(
    [line.kind, line.operation, line.client],
    [labels.kind, labels.operation, '127.0.0.1'],
    JSON.stringify(line),
  );
  assert.match(String(line.session), /^0x[0-9a-f]+$/);
}

before(async () => {
  assertStackUp();
  const health = await fetch(`${refusalExporter.url}/healthz`).catch((err: Error) => {
    throw new Error(
      `the refusal exporter does not answer at ${refusalExporter.url} (bash stack/stack.sh up starts it): ${err.message}`,
    );
  });
  assert.equal(health.status, 200, await health.text());
  // The nodes as config-sync makes them: its ACLs for two enrolled agents (digests as agent_credential holds them).
  const password = readFileSync(join(stackSecretsDir(), 'zk-configsync.password'), 'utf8').trim();
  const policy = new ZkAclPolicy(digestId(CONFIGSYNC_ZK_USER, password));
  policy.setRows(
    [agentA, agentB].map((agent) => ({
      agent_id: agent,
      zk_digest: credentialVerifiers(agent, secrets[agent]!).zkDigest,
      not_after_ms: null,
      revoked_at: null,
    })),
  );
  admin = await zkConnect();
  await new AclSync(admin, paths, policy, { updated: () => {} }).ensureRoot();
  for (const agent of [agentA, agentB]) {
    await admin.create(paths.agent(agent), null, undefined, policy.agent(agent));
    await admin.create(paths.config(agent), Buffer.from(`{"agentId":"${agent}"}`), undefined, policy.config(agent));
  }
});

after(async () => {
  for (const zk of clients) await zk.close();
  if (admin) {
    await removeZkTree(admin, root);
    await admin.close();
  }
});

describe('ZooKeeper: each ACL refusal is counted and logged, reads included', () => {
  test("an agent reading another agent's config (a refused read by a wrong principal)", async () => {
    const asA = await asAgent(agentA);
    assert.equal(JSON.parse(String((await asA.getData(paths.config(agentA)))?.data)).agentId, agentA);
    await noAuth("A reads B's config", asA.getData(paths.config(agentB)));
    await countedAndLogged(
      { server: 'zookeeper', user: `agent.${agentA}`, kind: 'other-principal', operation: 'read' },
      paths.config(agentB),
    );
  });

  test("an agent writing another agent's live node (a refused write by a wrong principal)", async () => {
    const asB = await asAgent(agentB);
    await asB.createEphemeral(paths.live(agentB), Buffer.from('{}'));
    const asA = clients[0]!;
    await noAuth("A writes B's live node", asA.setData(paths.live(agentB), Buffer.from('{"evil":1}')));
    await countedAndLogged(
      { server: 'zookeeper', user: `agent.${agentA}`, kind: 'other-principal', operation: 'write' },
      paths.live(agentB),
    );
    // Its own live node it may write: nothing more is counted for A.
    await asA.createEphemeral(paths.live(agentA), Buffer.from('{}'));
    await asA.setData(paths.live(agentA), Buffer.from('{"n":2}'));
    assert.equal(await serverRefusals({ server: 'zookeeper', user: `agent.${agentA}` }), 2);
  });

  test("B's name with a wrong password, and an anonymous client: refused reads, told apart by kind", async () => {
    const forged = await asAgent(agentB, newAgentSecret());
    await noAuth("a forged B reads B's config", forged.getData(paths.config(agentB)));
    await countedAndLogged(
      { server: 'zookeeper', user: `agent.${agentB}`, kind: 'wrong-password', operation: 'read' },
      paths.config(agentB),
    );
    const anonymous = await zkConnect({ anonymous: true });
    clients.push(anonymous);
    const before = await serverRefusals({ server: 'zookeeper', kind: 'anonymous', operation: 'create' });
    await noAuth('an anonymous create under the root', anonymous.create(`${root}/evil`, Buffer.from('x')));
    await waitForServerRefusals({ server: 'zookeeper', kind: 'anonymous', operation: 'create' }, before + 1);
    await refusalLogLine({ code: 'refusal-exporter.zookeeper-refusal', user: '(none)', object: `${root}/evil` });
  });
});

describe('MariaDB: a refused column, which Access_denied_errors does not count, is counted and logged', () => {
  test("the report account reading agent_credential's token hash", async () => {
    const labels = { server: 'mariadb', user: 'fleetcap_report', kind: 'column', operation: 'SELECT' };
    const before = await serverRefusals(labels);
    const marker = uniqueId('secref-col');
    const sql = `SELECT token_sha256 FROM agent_credential WHERE agent_id = '${marker}'`;
    const report = await mysqlAs('report');
    try {
      await assert.rejects(report.query(sql), (err: { code?: string }) => err.code === 'ER_COLUMNACCESS_DENIED_ERROR');
    } finally {
      await report.end();
    }
    await waitForServerRefusals(labels, before + 1);
    const line = await refusalLogLine({ code: 'refusal-exporter.mariadb-refusal', statement: sql });
    assert.deepEqual(
      [line.user, line.kind, line.operation, line.object, line.error, line.client],
      ['fleetcap_report', 'column', 'SELECT', 'agent_credential.token_sha256', 1143, '127.0.0.1'],
      JSON.stringify(line),
    );
  });
});
