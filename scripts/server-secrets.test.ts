// The servers' side of the generated secrets (stack/server-secrets.ts): what Redis and RabbitMQ are given.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import {
  amqpUsers,
  REDIS_DEFAULT_USER,
  rabbitDefinitions,
  rabbitPasswordHash,
  redisAclFile,
  redisUsers,
} from '../stack/server-secrets.ts';

const passwords = {
  fleetcap: 'p-fleetcap-1',
  splitcap: 'p-splitcap-1',
  worker: 'p-worker-1',
  detector: 'p-detector-1',
  console: 'p-console-1',
  replica: 'p-replica-1',
};

test('the Redis ACL file turns the default user off and holds hashes, never a password', () => {
  const text = redisAclFile(passwords);
  const lines = text.trim().split('\n');
  assert.equal(lines[0], REDIS_DEFAULT_USER);
  assert.match(lines[0]!, /^user default off resetpass /, 'nobody can sign in as the default user');
  for (const [user, password] of Object.entries(passwords)) {
    const line = lines.find((l) => l.startsWith(`user ${user} `));
    assert.ok(line?.includes(` on #${createHash('sha256').update(password).digest('hex')} `), user);
    assert.ok(!text.includes(password), `${user}'s password itself is not in the file`);
  }
  assert.match(redisUsers.worker, /~\*:s:\{\*/);
  assert.doesNotMatch(redisUsers.worker, /receipt|console/, 'the worker has no other app keys');
  assert.match(redisUsers.worker, / %R~\*:det:\{\* /, "the detectors' incident keys: read only");
  assert.doesNotMatch(redisUsers.worker, / ~\*:det:/, "the worker cannot write the detectors' state");
  assert.match(redisUsers.console, /^resetkeys ~\*:console:\* /, 'the console: its sign-in sessions only');
  assert.match(redisUsers.splitcap, /-@dangerous/);
  assert.equal(
    redisUsers.replica,
    'resetkeys resetchannels -@all +psync +replconf +ping',
    "a cluster node's replication login: no command on keys",
  );
});

test("RabbitMQ's password hash is what rabbit_password_hashing_sha256 computes", () => {
  const salt = Buffer.from([0x90, 0x8d, 0xc6, 0x0a]);
  const hash = Buffer.from(rabbitPasswordHash('test12', salt), 'base64');
  assert.deepEqual(hash.subarray(0, 4), salt);
  const digest = createHash('sha256')
    .update(Buffer.concat([salt, Buffer.from('test12')]))
    .digest();
  assert.deepEqual(hash.subarray(4), digest);
  const defs = rabbitDefinitions(passwords) as { users: Array<{ name: string }>; permissions: Array<{ user: string }> };
  assert.deepEqual(defs.users.map((u) => u.name).sort(), Object.keys(amqpUsers).sort(), 'no guest, one user per app');
  assert.ok(!JSON.stringify(defs).includes('p-worker-1'));
  // The permission regexes are the apps' own queues only.
  const worker = new RegExp(amqpUsers.worker.read);
  assert.ok(worker.test('fleetcap.sessions.ready') && !worker.test('fleetcap.detector'));
  const detector = new RegExp(amqpUsers.detector.read);
  assert.ok(detector.test('fleetcap.detector') && !detector.test('fleetcap.sessions.ready'));
  // The quorum dead-letter topology's names (lib/src/queue/topology.ts), and the old ones while a deployment drains.
  for (const name of ['fleetcap.sessions.ready.q', 'fleetcap.sessions.dead.q', 'fleetcap.records.due.q'])
    assert.ok(worker.test(name), name);
  const splitcap = new RegExp(amqpUsers.splitcap.configure);
  for (const name of [
    'x.sessions.delay.1000ms.q2',
    'x.sessions.ready.q',
    'x.sessions.dead.q',
    'x.sessions.delay.1000ms.q',
  ])
    assert.ok(splitcap.test(name), name);
  assert.ok(!splitcap.test('x.records.due.q') && !splitcap.test('x.detector.q'));
  assert.ok(detector.test('fleetcap.detector.q') && detector.test('fleetcap.detector.dead.q'));
});
