// The stack manager itself: `up` is idempotent, `down` leaves no process behind, data survives.
// Named zz- so it runs last among the integration tests: it stops and restarts every server.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { assertStackUp, mysqlAs, repoRoot, uniqueId } from '../helpers/stack.ts';

const stack = (cmd: string) => {
  const res = spawnSync('bash', [`${repoRoot}/stack/stack.sh`, cmd], { cwd: repoRoot, encoding: 'utf8' });
  return { code: res.status, out: `${res.stdout}${res.stderr}` };
};
const stackHome = process.env.FLEETCAP_STACK_HOME ?? `${repoRoot}/.stack`;

/** Live (non-zombie) processes whose command line matches; a zombie is already gone, only unreaped. */
function liveProcesses(match: (args: string) => boolean): string[] {
  return execFileSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([pid, stat]) => pid && stat && !stat.startsWith('Z') && Number(pid) !== process.pid)
    .map((f) => f.slice(2).join(' '))
    .filter((args) => match(args) && !args.startsWith('ps '));
}

test('a second `up` starts nothing and applies nothing', () => {
  assertStackUp();
  const { code, out } = stack('up');
  assert.equal(code, 0, out);
  assert.doesNotMatch(out, /starting (mariadb|redis|rabbitmq|zookeeper|kafka|connect)/);
  assert.match(out, /0 applied/);
});

test('`down` leaves no process behind, and `up` brings back every server with the data', async () => {
  const agent = uniqueId('lifecycle');
  const c = await mysqlAs('admin');
  await c.query("INSERT INTO sniffer_config (agent_id, device, splitcap_url) VALUES (?, 'lo', 'http://127.0.0.1:1')", [
    agent,
  ]);
  await c.end();

  const down = stack('down');
  assert.equal(down.code, 0, down.out);
  assert.deepEqual(
    liveProcesses((a) => a.includes(stackHome)),
    [],
    'no server process left',
  );
  // The Erlang port mapper is shared by every Erlang node of the machine: `down` must leave no node of
  // ours registered, and no mapper behind when it was the only user.
  const nodeName = (process.env.FLEETCAP_RABBITMQ_NODENAME ?? 'fleetcap@localhost').split('@')[0]!;
  const names = spawnSync('epmd', ['-names'], { encoding: 'utf8' });
  const registered = names.status === 0 ? [...names.stdout.matchAll(/^name (\S+) at port/gm)].map((m) => m[1]) : [];
  assert.ok(!registered.includes(nodeName), `RabbitMQ node ${nodeName} is no longer registered`);
  if (registered.length === 0) {
    assert.deepEqual(
      liveProcesses((a) => /(^|\/)epmd( |$)/.test(a)),
      [],
      'no Erlang port mapper left',
    );
  }
  assert.notEqual(stack('status').code, 0, 'status reports the servers down');

  const up = stack('up');
  assert.equal(up.code, 0, up.out);
  assertStackUp();
  const c2 = await mysqlAs('admin');
  try {
    const [rows] = await c2.query('SELECT agent_id FROM sniffer_config WHERE agent_id = ?', [agent]);
    assert.equal((rows as unknown[]).length, 1, 'data survives down/up');
  } finally {
    await c2.query('DELETE FROM sniffer_config WHERE agent_id = ?', [agent]);
    await c2.end();
  }
});
