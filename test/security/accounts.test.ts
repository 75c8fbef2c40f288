// Attacks with the apps' own accounts and with none, against the real servers of the stack (their users and secrets
// are the ones `stack up` generated: .stack/secrets/): each account tries what its role does not need, an anonymous
// client tries anything, an old built-in password tries to log in. Each is refused by the server with a clear error,
// which the server logs and counts where it can: MariaDB counts refused tables in Access_denied_errors (not refused
// columns), logs every refused statement in sql_errors.log (sql_errlog) and refused logins in its log; Redis logs in ACL LOG and counts in INFO stats (acl_access_denied_*); RabbitMQ logs each refused
// operation; Kafka Connect answers 401.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectAuthHeader, loadConnections, type ServiceName } from '@fleetcap/lib/config/connections';
import { stackHome } from '@fleetcap/lib/config/secrets';
import { type AccountRole, loadAccount } from '@fleetcap/lib/db/accounts';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { assertStackUp, connections, mysqlAs, uniqueId } from '../helpers/stack.ts';

const prefix = uniqueId('secacc').replace(/[^A-Za-z0-9]/g, '');
const logs = join(stackHome(), 'logs');

async function deniedCount(): Promise<number> {
  const admin = await mysqlAs('admin');
  try {
    const [rows] = await admin.query("SHOW GLOBAL STATUS LIKE 'Access_denied_errors'");
    return Number((rows as Array<{ Value: string }>)[0]!.Value);
  } finally {
    await admin.end();
  }
}

const sqlErrors = join(stackHome(), 'mariadb', 'data', 'sql_errors.log');

/** Waits for MariaDB's SQL error log to hold the refusal `message` of `sql`. */
async function loggedSqlError(message: string, sql: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!readFileSync(sqlErrors, 'utf8').includes(`${message} : ${sql}`)) {
    if (Date.now() > deadline) assert.fail(`${sqlErrors} does not hold "${message} : ${sql}"`);
    await sleep(200);
  }
}

/** Runs `sql` as `role` and returns the server's refusal (fails when the statement is allowed). */
async function refusedSql(role: AccountRole, sql: string): Promise<{ code: string; message: string }> {
  const c = await mysqlAs(role);
  try {
    await c.query(sql);
  } catch (err) {
    return err as { code: string; message: string };
  } finally {
    await c.end();
  }
  assert.fail(`${role} was allowed to run: ${sql}`);
}

describe('MariaDB: each account can do what its role needs and nothing more', () => {
  before(() => assertStackUp());

  const cases: Array<[AccountRole, string, RegExp]> = [
    [
      'worker',
      'DELETE FROM session_verdict WHERE 1 = 0',
      /DELETE command denied to user 'fleetcap_worker'@'(localhost|127\.0\.0\.1)' for table .*session_verdict/,
    ],
    [
      'worker',
      "UPDATE session_verdict SET label = 'benign' WHERE 1 = 0",
      /UPDATE command denied|command denied to user 'fleetcap_worker'.*column 'label'/,
    ],
    ['worker', "INSERT INTO sniffer_config (agent_id) VALUES ('x')", /INSERT command denied to user 'fleetcap_worker'/],
    ['worker', 'SELECT token_sha256 FROM agent_credential', /SELECT command denied to user 'fleetcap_worker'/],
    [
      'report',
      "INSERT INTO session_verdict (session_key) VALUES ('x')",
      /INSERT command denied to user 'fleetcap_report'/,
    ],
    [
      'report',
      'SELECT token_sha256 FROM agent_credential',
      /SELECT command denied to user 'fleetcap_report'.*column 'token_sha256'/,
    ],
    [
      'configsync',
      "INSERT INTO sniffer_config (agent_id) VALUES ('x')",
      /INSERT command denied to user 'fleetcap_configsync'/,
    ],
    [
      'configsync',
      "UPDATE sniffer_config SET bpf_filter = '' WHERE 1 = 0",
      /UPDATE command denied to user 'fleetcap_configsync'/,
    ],
    [
      'configsync',
      'SELECT token_sha256 FROM agent_credential',
      /command denied to user 'fleetcap_configsync'.*column 'token_sha256'/,
    ],
    [
      'splitcap',
      'SELECT zk_digest FROM agent_credential',
      /command denied to user 'fleetcap_splitcap'.*column 'zk_digest'/,
    ],
    [
      'splitcap',
      "UPDATE agent_credential SET revoked_at = NULL WHERE agent_id = 'x'",
      /UPDATE command denied to user 'fleetcap_splitcap'/,
    ],
    ['detector', 'DELETE FROM session_verdict WHERE 1 = 0', /DELETE command denied to user 'fleetcap_detector'/],
  ];
  for (const [role, sql, refusal] of cases) {
    test(`${role}: ${sql.split(' ').slice(0, 3).join(' ')} … is refused, logged (counted when a table is refused)`, async () => {
      const before = await deniedCount();
      const err = await refusedSql(role, sql);
      assert.match(err.code, /^ER_(TABLE|COLUMN)ACCESS_DENIED_ERROR$/, err.message);
      assert.match(err.message, refusal);
      // MariaDB counts a refused table in Access_denied_errors; a refused column it refuses without counting.
      if (err.code === 'ER_TABLEACCESS_DENIED_ERROR')
        assert.ok((await deniedCount()) > before, 'Access_denied_errors counts it');
      // And logs it, with the account, its address and the statement (sql_errlog, stack/stack.sh).
      await loggedSqlError(err.message, sql);
    });
  }

  test('every account is bound to loopback; no admin with GRANT OPTION at %', async () => {
    const admin = await mysqlAs('admin');
    try {
      const [rows] = await admin.query(
        "SELECT User AS user, Host AS host FROM mysql.user WHERE User LIKE 'fleetcap%' ORDER BY User",
      );
      const accounts = rows as Array<{ user: string; host: string }>;
      assert.ok(accounts.length >= 7, JSON.stringify(accounts));
      for (const a of accounts) {
        if (a.host === '127.0.0.1') continue;
        // A stack upgraded from before keeps the admin at '%' as the definer of its triggers and views: locked.
        const [shown] = await admin.query('SHOW CREATE USER ?@?', [a.user, a.host]);
        const text = JSON.stringify(shown);
        assert.ok(a.user === connections.mysqlAdmin.user && text.includes('ACCOUNT LOCK'), `${a.user} is at ${a.host}`);
      }
      const [grants] = await admin.query(
        "SELECT GRANTEE AS grantee FROM information_schema.USER_PRIVILEGES WHERE IS_GRANTABLE = 'YES' AND GRANTEE LIKE '%@''\\%'''",
      );
      assert.deepEqual(grants, [], 'no account at % may grant');
    } finally {
      await admin.end();
    }
  });

  test("an old built-in password is refused at login, counted and logged in MariaDB's log", async () => {
    const before = await deniedCount();
    const user = loadAccount(process.env, 'worker').user;
    const err = await mysql.createConnection({ ...connections.mysql, user, password: 'fleetcap-worker-local' }).then(
      async (c) => {
        await c.end();
        return undefined;
      },
      (e: { code: string; message: string }) => e,
    );
    assert.equal(err?.code, 'ER_ACCESS_DENIED_ERROR', 'the old password no longer logs in');
    assert.match(
      err.message,
      /Access denied for user 'fleetcap_worker'@'localhost'|Access denied for user 'fleetcap_worker'@'127\.0\.0\.1'/,
    );
    assert.ok((await deniedCount()) > before);
    const log = readFileSync(join(logs, 'mariadb.log'), 'utf8');
    assert.match(log, /Access denied for user 'fleetcap_worker'/);
  });
});

function redisAs(service: ServiceName | 'anonymous'): Redis {
  const url =
    service === 'anonymous'
      ? `redis://127.0.0.1:${new URL(connections.redisUrl).port}`
      : loadConnections(process.env, service).redisUrl;
  const r = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableReadyCheck: false,
  });
  r.on('error', () => {});
  return r;
}

/** How many refusals of `user` for `reason` (auth, command, key) ACL LOG holds: Redis logs and counts them there. */
async function redisDenials(admin: Redis, user: string, reason: string): Promise<number> {
  const entries = (await admin.call('ACL', 'LOG', '128')) as unknown[][];
  let total = 0;
  for (const entry of entries) {
    const fields = new Map<string, unknown>();
    for (let i = 0; i + 1 < entry.length; i += 2) fields.set(String(entry[i]), entry[i + 1]);
    if (fields.get('username') === user && fields.get('reason') === reason) total += Number(fields.get('count'));
  }
  return total;
}

describe('Redis: ACL users with their own keys and commands, no anonymous access', () => {
  let admin: Redis;
  before(async () => {
    admin = redisAs('operator');
    await admin.connect();
  });
  after(() => admin?.disconnect());

  const cases: Array<[ServiceName, string, string[], RegExp, string]> = [
    ['splitcap', 'splitcap', ['GET', `${prefix}:det:{cap|x}:1`], /NOPERM .*(key|keys)/, 'key'],
    ['detector', 'detector', ['HGETALL', `${prefix}:s:{a/udp/1/2/3/4}:m`], /NOPERM .*(key|keys)/, 'key'],
    ['session-worker', 'worker', ['GET', `${prefix}:receipt:{a}:b1`], /NOPERM .*(key|keys)/, 'key'],
    ['session-worker', 'worker', ['FLUSHALL'], /NOPERM .*flushall/i, 'command'],
    ['splitcap', 'splitcap', ['KEYS', '*'], /NOPERM .*keys/i, 'command'],
    ['detector', 'detector', ['CONFIG', 'GET', 'requirepass'], /NOPERM .*config/i, 'command'],
  ];
  for (const [service, user, command, refusal, reason] of cases) {
    test(`${service}: ${command.join(' ')} is refused, logged and counted in ACL LOG (${reason})`, async () => {
      const before = await redisDenials(admin, user, reason);
      const r = redisAs(service);
      try {
        await r.connect();
        await assert.rejects(r.call(command[0]!, ...command.slice(1)), refusal);
      } finally {
        r.disconnect();
      }
      assert.equal(await redisDenials(admin, user, reason), before + 1, 'ACL LOG counts it');
    });
  }

  test('an anonymous client may run nothing, and the default user cannot log in', async () => {
    const before = await redisDenials(admin, 'default', 'auth');
    const r = redisAs('anonymous');
    try {
      await r.connect();
      await assert.rejects(r.get(`${prefix}:s:{x}:m`), /NOAUTH Authentication required/);
      await assert.rejects(r.call('AUTH', 'default', ''), /WRONGPASS|user is disabled/);
    } finally {
      r.disconnect();
    }
    assert.ok((await redisDenials(admin, 'default', 'auth')) > before, 'the refused login is in ACL LOG');
  });
});

async function amqpRefusal(url: string, act: (ch: amqp.Channel) => Promise<unknown>): Promise<Error> {
  const conn = await amqp.connect(url);
  conn.on('error', () => {});
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    await act(ch);
  } catch (err) {
    return err as Error;
  } finally {
    await conn.close().catch(() => {});
  }
  assert.fail('the broker allowed it');
}

describe('RabbitMQ: a user per app with only its queues, no guest, no default password', () => {
  const q = (name: string) => `${prefix}.${name}`;
  before(async () => {
    const conn = await amqp.connect(connections.amqpUrl);
    const ch = await conn.createChannel();
    await ch.assertQueue(q('sessions.ready'), { durable: false, autoDelete: false });
    await ch.assertQueue(q('detector'), { durable: false, autoDelete: false });
    await conn.close();
  });
  after(async () => {
    const conn = await amqp.connect(connections.amqpUrl);
    const ch = await conn.createChannel();
    for (const name of ['sessions.ready', 'detector']) await ch.deleteQueue(q(name)).catch(() => {});
    await conn.close();
  });

  const cases: Array<[ServiceName, string, (ch: amqp.Channel) => Promise<unknown>, RegExp]> = [
    [
      'detector',
      'consume the session queue',
      (ch) => ch.consume(q('sessions.ready'), () => {}),
      /access to queue '.*sessions\.ready' in vhost '\/' refused for user 'detector'/,
    ],
    [
      'splitcap',
      'consume the detector queue',
      (ch) => ch.consume(q('detector'), () => {}),
      /access to queue '.*\.detector' in vhost '\/' refused for user 'splitcap'/,
    ],
    [
      'session-worker',
      'delete the detector queue',
      (ch) => ch.deleteQueue(q('detector')),
      /access to queue '.*\.detector' in vhost '\/' refused for user 'worker'/,
    ],
    [
      'splitcap',
      'declare the verdict exchange',
      (ch) => ch.assertExchange(q('verdicts'), 'fanout'),
      /access to exchange '.*\.verdicts' in vhost '\/' refused for user 'splitcap'/,
    ],
  ];
  for (const [service, what, act, refusal] of cases) {
    test(`${service} may not ${what}: 403 ACCESS_REFUSED, in the broker's log`, async () => {
      const err = await amqpRefusal(loadConnections(process.env, service).amqpUrl, act);
      assert.match(err.message, /403 \(ACCESS-REFUSED\)/);
      assert.match(err.message, refusal);
      const log = readFileSync(join(logs, 'rabbitmq.log'), 'utf8');
      assert.ok(log.includes(refusal.exec(err.message)![0]), 'RabbitMQ logs the refusal');
    });
  }

  for (const [who, credentials] of [
    ['guest', 'guest:guest'],
    ['the old built-in fleetcap/fleetcap', 'fleetcap:fleetcap'],
  ] as const) {
    test(`${who} cannot log in`, async () => {
      const port = new URL(connections.amqpUrl).port;
      await assert.rejects(amqp.connect(`amqp://${credentials}@127.0.0.1:${port}`), /ACCESS_REFUSED|403/);
      const user = credentials.split(':')[0];
      const refused = new RegExp(`user '${user}' - invalid credentials|user '${user}' authentication failure`);
      // The broker writes its log through its console handler, a moment after it answered the client (CI once read
      // the file before the line was there).
      let log = '';
      for (const deadline = Date.now() + 5000; Date.now() < deadline; await sleep(100)) {
        log = readFileSync(join(logs, 'rabbitmq.log'), 'utf8');
        if (refused.test(log)) break;
      }
      assert.ok(refused.test(log), `RabbitMQ logs the refused login of ${user}; the log ends:\n${log.slice(-2000)}`);
    });
  }
});

describe('Kafka Connect: the REST API asks for credentials and shows no password', () => {
  test('anonymous and wrong credentials get 401; the connector config names the CDC password by reference', async () => {
    assert.equal((await fetch(`${connections.connectUrl}/connectors`)).status, 401);
    const wrong = { authorization: `Basic ${Buffer.from('fleetcap:not-the-password').toString('base64')}` };
    assert.equal((await fetch(`${connections.connectUrl}/connectors`, { headers: wrong })).status, 401);
    const res = await fetch(`${connections.connectUrl}/connectors/fleetcap-sniffer-config/config`, {
      headers: connectAuthHeader(),
    });
    assert.equal(res.status, 200);
    const config = (await res.json()) as Record<string, string>;
    assert.match(config['database.password']!, /^\$\{file:.*connect-cdc\.properties:password\}$/);
    const cdc = loadAccount(process.env, 'cdc').password;
    assert.equal(JSON.stringify(config).includes(cdc), false, 'the password itself is nowhere in the config');
  });
});
