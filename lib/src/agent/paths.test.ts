// Agent paths under a ZooKeeper root, and the agent id and root rules.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { AgentPaths, isPathSafeAgentId, zkRootSetting } from './paths.ts';

test('paths under the default root and under another one', () => {
  const d = new AgentPaths();
  assert.equal(d.root, '/fleetcap');
  assert.equal(d.agents, '/fleetcap/agents');
  assert.equal(d.agent('a1'), '/fleetcap/agents/a1');
  assert.equal(d.config('a1'), '/fleetcap/agents/a1/config');
  assert.equal(d.live('a1'), '/fleetcap/agents/a1/live');
  const alt = new AgentPaths('/fleetcap-alt/site-2');
  assert.equal(alt.config('a1'), '/fleetcap-alt/site-2/agents/a1/config');
  assert.equal(alt.live('a1'), '/fleetcap-alt/site-2/agents/a1/live');
});

test('a root that is not an absolute ZooKeeper path is refused', () => {
  for (const bad of ['fleetcap', '/', '/fleetcap/', '/a b', '//x'])
    assert.throws(() => new AgentPaths(bad), /must be an absolute ZooKeeper path/, bad);
  const setting = z.object({ FLEETCAP_ZK_ROOT: zkRootSetting });
  assert.equal(setting.parse({}).FLEETCAP_ZK_ROOT, '/fleetcap');
  assert.equal(setting.parse({ FLEETCAP_ZK_ROOT: '/x/y' }).FLEETCAP_ZK_ROOT, '/x/y');
  assert.equal(setting.safeParse({ FLEETCAP_ZK_ROOT: 'x' }).success, false);
});

test('agent ids are one path segment', () => {
  for (const ok of ['a1', 'web-01.example', 'A_b', 'x'.repeat(64)]) assert.equal(isPathSafeAgentId(ok), true, ok);
  for (const bad of ['', '-a', '.a', 'a/b', 'a b', 'x'.repeat(65), '..'])
    assert.equal(isPathSafeAgentId(bad), false, bad);
});
