// Rotation of the stack's secrets the way docs/OPERATIONS.md ("Rotating each secret") says, against the real
// servers: a new value written into each file with the documented command, then `bash stack/stack.sh up`; the new
// secret logs in, the old one is refused, and the CDC connector runs on with its new password. It changes the stack's
// secrets (the apps that run on it must be restarted after it, as the doc says): run it on a stack of your own
// (FLEETCAP_STACK_HOME), never on a shared one. zz-: the runner runs it after the other security files.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectAuthHeader, loadConnections } from '@fleetcap/lib/config/connections';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { stackHome } from '../helpers/security.ts';
import { assertStackUp, repoRoot } from '../helpers/stack.ts';

const secrets = join(stackHome, 'secrets');
const read = (name: string) => readFileSync(join(secrets, name), 'utf8').split('\n')[0]!.trim();
const ROTATED = [
  'mysql-admin.password',
  'mysql-worker.password',
  'mysql-cdc.password',
  'redis-worker.password',
  'amqp-worker.password',
  'connect-rest.password',
];

async function mysqlLogin(user: string, password: string): Promise<string> {
  const { host, port } = loadConnections(process.env, 'session-worker').mysql;
  try {
    const c = await mysql.createConnection({ host, port, user, password });
    await c.end();
    return 'ok';
  } catch (err) {
    return (err as { code: string }).code;
  }
}

async function redisLogin(user: string, password: string): Promise<string> {
  const url = new URL(loadConnections(process.env, 'session-worker').redisUrl);
  const r = new Redis({
    host: url.hostname,
    port: Number(url.port),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableReadyCheck: false,
  });
  r.on('error', () => {});
  try {
    await r.connect();
    return String(await r.call('AUTH', user, password));
  } catch (err) {
    return (err as Error).message.split(' ')[0]!;
  } finally {
    r.disconnect();
  }
}

async function amqpLogin(user: string, password: string): Promise<string> {
  const url = new URL(loadConnections(process.env, 'session-worker').amqpUrl);
  try {
    const c = await amqp.connect(`amqp://${user}:${encodeURIComponent(password)}@${url.hostname}:${url.port}`);
    await c.close();
    return 'ok';
  } catch (err) {
    return /ACCESS_REFUSED|403/.test((err as Error).message) ? 'ACCESS_REFUSED' : (err as Error).message;
  }
}

async function connectStatus(password: string): Promise<number> {
  const url = loadConnections().connectUrl;
  const auth = { authorization: `Basic ${Buffer.from(`fleetcap:${password}`).toString('base64')}` };
  return (await fetch(`${url}/connectors`, { headers: auth })).status;
}

test('every rotated secret logs in after `stack up`, its old value is refused, and CDC runs on', {
  timeout: 600_000,
}, async () => {
  assertStackUp();
  const old = Object.fromEntries(ROTATED.map((n) => [n, read(n)]));
  for (const name of ROTATED) {
    // The command of docs/OPERATIONS.md, verbatim but for the file.
    execFileSync('bash', [
      '-c',
      `(umask 077; openssl rand -base64 33 | tr '+/' '-_' > "$1")`,
      '_',
      join(secrets, name),
    ]);
  }
  const fresh = Object.fromEntries(ROTATED.map((n) => [n, read(n)]));
  for (const n of ROTATED) assert.notEqual(fresh[n], old[n], `${n} has a new value`);
  const up = spawnSync('bash', [join(repoRoot, 'stack', 'stack.sh'), 'up'], { encoding: 'utf8', timeout: 540_000 });
  assert.equal(up.status, 0, `${up.stdout}${up.stderr}`);

  assert.equal(await mysqlLogin('fleetcap_worker', fresh['mysql-worker.password']!), 'ok');
  assert.equal(await mysqlLogin('fleetcap_worker', old['mysql-worker.password']!), 'ER_ACCESS_DENIED_ERROR');
  assert.equal(await mysqlLogin('fleetcap_admin', fresh['mysql-admin.password']!), 'ok');
  assert.equal(await mysqlLogin('fleetcap_admin', old['mysql-admin.password']!), 'ER_ACCESS_DENIED_ERROR');
  assert.equal(await mysqlLogin('fleetcap_cdc', old['mysql-cdc.password']!), 'ER_ACCESS_DENIED_ERROR');
  assert.equal(await redisLogin('worker', fresh['redis-worker.password']!), 'OK');
  assert.equal(await redisLogin('worker', old['redis-worker.password']!), 'WRONGPASS');
  assert.equal(await amqpLogin('worker', fresh['amqp-worker.password']!), 'ok');
  assert.equal(await amqpLogin('worker', old['amqp-worker.password']!), 'ACCESS_REFUSED');
  assert.equal(await connectStatus(fresh['connect-rest.password']!), 200);
  assert.equal(await connectStatus(old['connect-rest.password']!), 401);
  // The connector logs in with the new CDC password (its config names the file): its task runs.
  const deadline = Date.now() + 60_000;
  let state = '';
  while (Date.now() < deadline) {
    const r = await fetch(`${loadConnections().connectUrl}/connectors/fleetcap-sniffer-config/status`, {
      headers: connectAuthHeader(),
    });
    const s = (await r.json()) as { connector: { state: string }; tasks: Array<{ state: string }> };
    state = `${s.connector.state}/${s.tasks.map((t) => t.state).join(',')}`;
    if (state === 'RUNNING/RUNNING') break;
    await sleep(1000);
  }
  assert.equal(state, 'RUNNING/RUNNING', 'the CDC connector runs with the rotated password');
  assertStackUp();
});
