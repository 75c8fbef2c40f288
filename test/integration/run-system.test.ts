// The README's run command, non-interactively: the whole system on local defaults ends with verdict
// rows for the traffic its agent captured, and a report.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { assertStackUp, mysqlAs, repoRoot } from '../helpers/stack.ts';

test('bash scripts/run-system.sh runs the pipeline end to end and prints the report', { timeout: 300_000 }, async () => {
  assertStackUp();
  const db = await mysqlAs('admin');
  const [before] = await db.query("SELECT COALESCE(MAX(id), 0) AS id FROM session_verdict");
  const since = Number((before as Array<{ id: number }>)[0]!.id);
  const res = spawnSync('bash', [`${repoRoot}/scripts/run-system.sh`, '--requests', '25'], { cwd: repoRoot, encoding: 'utf8', timeout: 280_000 });
  const out = `${res.stdout}${res.stderr}`;
  assert.equal(res.status, 0, out);
  for (const step of ['register the agent: INSERT INTO sniffer_config', 'config travels binlog', 'wait for the verdicts', 'stop the apps']) {
    assert.ok(out.includes(step), `the run shows the step "${step}"`);
  }
  for (const title of ['Sessions per label', 'Attack sessions', 'Top talkers']) assert.ok(out.includes(title), `report section ${title}`);
  try {
    const [rows] = await db.query(
      "SELECT COUNT(*) AS n FROM session_verdict WHERE id > ? AND agent_id = 'local-agent' AND server_port = 18081 AND client_addr = '127.0.0.1' AND protocol = 'tcp'",
      [since],
    );
    // 25 requests, one connection each (the demo server closes every connection).
    assert.ok(Number((rows as Array<{ n: number }>)[0]!.n) >= 25, out);
    const [agent] = await db.query(
      "SELECT s.applied_revision, c.revision FROM agent_status s JOIN sniffer_config c USING (agent_id) WHERE agent_id = 'local-agent'",
    );
    const a = (agent as Array<{ applied_revision: number; revision: number }>)[0];
    assert.ok(a, 'agent_status has the agent');
    assert.equal(a.applied_revision, a.revision, 'the agent applied the config inserted with SQL');
  } finally {
    await db.end();
  }
});
