import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { credentialVerifiers, newAgentSecret } from '@fleetcap/lib/auth/agent-credential';
import { refusalLogEntry, ZkPermission } from '@fleetcap/lib/zookeeper/acl';
import { loadConfigSyncConfig, zkAclSettings } from './config.ts';
import { type AgentDigestRow, ZkAclPolicy } from './zk-acl.ts';

const row = (agent: string, over: Partial<AgentDigestRow> = {}): AgentDigestRow => ({
  agent_id: agent,
  zk_digest: credentialVerifiers(agent, newAgentSecret()).zkDigest,
  not_after_ms: null,
  revoked_at: null,
  ...over,
});

test('ACLs: config-sync alone on the root; an agent reads its config, creates and deletes under its node', () => {
  const policy = new ZkAclPolicy('fleetcap-configsync:abc=');
  const a = row('host-a');
  policy.setRows([a]);
  assert.deepEqual(policy.root(), [
    { scheme: 'digest', id: 'fleetcap-configsync:abc=', permissions: ZkPermission.ALL },
    refusalLogEntry,
  ]);
  assert.deepEqual(
    policy.config('host-a').map((e) => [e.id, e.permissions]),
    [
      ['fleetcap-configsync:abc=', ZkPermission.ALL],
      [a.zk_digest, ZkPermission.READ],
      [refusalLogEntry.id, ZkPermission.ALL],
    ],
  );
  // Last, so that ZooKeeper reaches it only when it is about to refuse (the refusal log, withRefusalLog).
  for (const acl of [policy.root(), policy.agent('host-a'), policy.config('host-a')])
    assert.deepEqual(acl.at(-1), refusalLogEntry);
  assert.equal(policy.agent('host-a')[1]?.permissions, ZkPermission.READ | ZkPermission.CREATE | ZkPermission.DELETE);
  assert.ok(!policy.config('host-a').some((e) => e.scheme === 'world'), 'nothing for anonymous clients');
  assert.equal(policy.config('host-b').length, 2, 'an agent without a credential gets nothing');
});

test('ACLs follow rotation, expiry and revocation; changedAgents says whose to set again', () => {
  const policy = new ZkAclPolicy('fleetcap-configsync:abc=');
  const now = Date.now();
  const old = row('host-a', { not_after_ms: now + 1000 });
  const fresh = row('host-a');
  policy.setRows([old, fresh, row('host-b')]);
  assert.deepEqual(policy.changedAgents(now).sort(), ['host-a', 'host-b']);
  assert.equal(policy.digests('host-a', now).length, 2, 'both secrets during the overlap');
  policy.markApplied('host-a', now);
  policy.markApplied('host-b', now);
  assert.deepEqual(policy.changedAgents(now), []);
  assert.deepEqual(policy.changedAgents(now + 1000), ['host-a'], 'the old secret expired');
  assert.deepEqual(policy.digests('host-a', now + 1000), [fresh.zk_digest]);
  policy.setRows([old, fresh, row('host-b', { revoked_at: new Date() })]);
  assert.ok(policy.changedAgents(now).includes('host-b'));
  assert.deepEqual(policy.digests('host-b', now), []);
  // A digest that is not an agent's (a hand-written row) is ignored.
  policy.setRows([row('host-c', { zk_digest: 'fleetcap-configsync:abc=' })]);
  assert.deepEqual(policy.digests('host-c'), []);
});

test('ACL settings: digest with a password file or the stack’s, on by default, open only when asked', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleetcap-zkacl-'));
  try {
    const file = join(dir, 'pw');
    writeFileSync(file, 'a-long-enough-password-123\n', { mode: 0o600 });
    const base = { FLEETCAP_ZK_ROOT: '/x', FLEETCAP_STACK_HOME: join(dir, 'no-stack') };
    assert.deepEqual(zkAclSettings(loadConfigSyncConfig({ ...base, FLEETCAP_ZK_CONFIGSYNC_PASSWORD_FILE: file })), {
      mode: 'digest',
      password: 'a-long-enough-password-123',
    });
    assert.deepEqual(zkAclSettings(loadConfigSyncConfig({ ...base, FLEETCAP_ZK_ACL: 'open' })), { mode: 'open' });
    assert.throws(() => loadConfigSyncConfig(base), /ZooKeeper ACLs \(FLEETCAP_ZK_ACL=digest, the default\) need/);
    mkdirSync(join(dir, 'stack', 'secrets'), { recursive: true });
    writeFileSync(join(dir, 'stack', 'secrets', 'zk-configsync.password'), 'the-stack-generated-password\n', {
      mode: 0o600,
    });
    assert.deepEqual(zkAclSettings(loadConfigSyncConfig({ ...base, FLEETCAP_STACK_HOME: join(dir, 'stack') })), {
      mode: 'digest',
      password: 'the-stack-generated-password',
    });
    const loose = join(dir, 'loose');
    writeFileSync(loose, 'a-long-enough-password-123\n', { mode: 0o644 });
    assert.throws(
      () => loadConfigSyncConfig({ ...base, FLEETCAP_ZK_CONFIGSYNC_PASSWORD_FILE: loose }),
      /is readable by others \(mode 644\): chmod 600/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
