// The client's own logic, without a ZooKeeper: calls and the first session are bounded by timeouts when the server
// never answers (a port that accepts connections and says nothing), and ACL entries become the library's ACLs.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { digestId, openAcl, toClientAcl, ZkPermission } from './acl.ts';
import { ZkClient } from './client.ts';
import { isNoNode, isZkError, ZkCode, ZkTimeoutError, zkErrorCode } from './errors.ts';

let silent: Server;
const sockets = new Set<Socket>();
let connect = '';

before(async () => {
  silent = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const address = silent.address();
  connect = `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
after(() => {
  for (const s of sockets) s.destroy();
  silent.close();
});

test('a server that never answers: start and every call end with a timeout', async () => {
  const zk = new ZkClient({ connect, opTimeoutMs: 200, retries: 0, spinDelayMs: 50 });
  let sessions = 0;
  zk.on('session', () => sessions++);
  const t0 = Date.now();
  await assert.rejects(zk.start(300), /no ZooKeeper session with 127\.0\.0\.1:\d+ within 300 ms/);
  assert.equal(zk.connected, false);
  const calls = [
    zk.getData('/fleetcap/agents/a1/config'),
    zk.exists('/fleetcap'),
    zk.getChildren('/fleetcap/agents'),
    zk.create('/x'),
    zk.createEphemeral('/x', Buffer.from('{}')),
    zk.setData('/x', Buffer.from('{}'), 3),
    zk.remove('/x'),
    zk.mkdirp('/a/b'),
  ];
  for (const call of calls)
    await assert.rejects(call, (err) => err instanceof ZkTimeoutError && /no answer within 200 ms/.test(err.message));
  assert.ok(Date.now() - t0 < 3000, 'bounded by the timeouts, not by the server');
  assert.equal(sessions, 0);
  assert.equal(zk.sessionId().replace(/0/g, ''), '', 'no session id without a session');
  await zk.close();
});

test('open: a client that cannot connect in time is closed and the error says where it tried', async () => {
  await assert.rejects(ZkClient.open({ connect, retries: 0 }, 200), /no ZooKeeper session with 127\.0\.0\.1/);
});

test('ACL entries: open by default, digest ids as ZooKeeper stores them, never empty', () => {
  const [open] = toClientAcl(openAcl) as unknown as Array<{ permission: number; id: { scheme: string; id: string } }>;
  assert.equal(open?.id.scheme, 'world');
  assert.equal(open?.id.id, 'anyone');
  assert.equal(open?.permission, ZkPermission.ALL);
  assert.match(digestId('fleetcap', 'secret'), /^fleetcap:[A-Za-z0-9+/]{27}=$/);
  assert.notEqual(digestId('fleetcap', 'secret'), digestId('fleetcap', 'other'));
  assert.throws(() => toClientAcl([]), /at least one entry/);
  assert.throws(() => new ZkClient({ connect, acl: [] }), /at least one entry/);
});

test('error codes from exceptions and from plain objects', () => {
  assert.equal(zkErrorCode({ getCode: () => ZkCode.NO_NODE }), ZkCode.NO_NODE);
  assert.equal(zkErrorCode({ code: ZkCode.BAD_VERSION }), ZkCode.BAD_VERSION);
  assert.equal(zkErrorCode(new Error('x')), undefined);
  assert.equal(zkErrorCode(null), undefined);
  assert.ok(isNoNode({ code: ZkCode.NO_NODE }));
  assert.ok(isZkError({ code: ZkCode.NOT_EMPTY }, ZkCode.NOT_EMPTY));
  assert.ok(!isZkError({ code: 'ECONNRESET' }, ZkCode.NOT_EMPTY));
});
