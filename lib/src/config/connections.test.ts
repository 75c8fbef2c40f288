import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { ConfigError, loadAll, loadConnections, parseEnv, serviceServers } from './connections.ts';

// No stack on the machine of a unit test: secrets come from the variables, or from a stack home made here.
const noStack = { FLEETCAP_STACK_HOME: join(tmpdir(), 'fleetcap-no-stack-here') };
const operatorSecrets = {
  ...noStack,
  FLEETCAP_REDIS_PASSWORD: 'redis-secret-1',
  FLEETCAP_AMQP_PASSWORD: 'amqp-secret-1',
  FLEETCAP_MYSQL_ADMIN_PASSWORD: 'admin-secret-1',
};

function stackWith(secrets: Record<string, string>, mode = 0o600): string {
  const home = mkdtempSync(join(tmpdir(), 'fleetcap-stack-'));
  mkdirSync(join(home, 'secrets'));
  for (const [name, value] of Object.entries(secrets)) {
    writeFileSync(join(home, 'secrets', name), `${value}\n`, { mode });
    chmodSync(join(home, 'secrets', name), mode);
  }
  return home;
}

test('defaults point at the local stack on loopback, as the operator', () => {
  const c = loadConnections(operatorSecrets);
  assert.equal(c.redisUrl, 'redis://fleetcap:redis-secret-1@127.0.0.1:6379');
  assert.equal(c.amqpUrl, 'amqp://fleetcap:amqp-secret-1@127.0.0.1:5672');
  assert.deepEqual(c.mysql, { host: '127.0.0.1', port: 3306, database: 'fleetcap' });
  assert.deepEqual(c.mysqlAdmin, { user: 'fleetcap_admin', password: 'admin-secret-1' });
  assert.equal(c.zookeeper, '127.0.0.1:2181');
  assert.deepEqual(c.kafkaBrokers, ['127.0.0.1:9092']);
  assert.equal(c.connectUrl, 'http://127.0.0.1:8083');
});

test('explicit URLs and broker lists win over ports', () => {
  const c = loadConnections({
    ...operatorSecrets,
    FLEETCAP_KAFKA_BROKERS: 'k1:9092, k2:9092',
    FLEETCAP_AMQP_PASSWORD: 'p@ss/word',
    FLEETCAP_REDIS_PORT: '7000',
  });
  assert.deepEqual(c.kafkaBrokers, ['k1:9092', 'k2:9092']);
  assert.equal(c.amqpUrl, 'amqp://fleetcap:p%40ss%2Fword@127.0.0.1:5672', 'credentials are URL-encoded');
  assert.equal(c.redisUrl, 'redis://fleetcap:redis-secret-1@127.0.0.1:7000');
});

test('each app connects as its own Redis and RabbitMQ user, with the secret the stack generated for it', () => {
  const home = stackWith({
    'redis-splitcap.password': 'splitcap-redis-pw',
    'amqp-splitcap.password': 'splitcap-amqp-pw',
  });
  const c = loadConnections({ FLEETCAP_STACK_HOME: home }, 'splitcap');
  assert.equal(c.redisUrl, 'redis://splitcap:splitcap-redis-pw@127.0.0.1:6379');
  assert.equal(c.amqpUrl, 'amqp://splitcap:splitcap-amqp-pw@127.0.0.1:5672');
  assert.throws(() => c.mysqlAdmin, /splitcap has no MariaDB admin account/);
  assert.equal(JSON.stringify(c).includes('admin'), false, 'the admin account is not even listed');
});

test('a _FILE variable wins over the stack file; an app without Redis or RabbitMQ needs no secret', () => {
  const home = stackWith({ 'redis-worker.password': 'from-the-stack', 'amqp-worker.password': 'from-the-stack' });
  const own = stackWith({ 'mine.password': 'from-my-own-file' });
  const c = loadConnections(
    { FLEETCAP_STACK_HOME: home, FLEETCAP_REDIS_PASSWORD_FILE: join(own, 'secrets', 'mine.password') },
    'session-worker',
  );
  assert.equal(c.redisUrl, 'redis://worker:from-my-own-file@127.0.0.1:6379');
  assert.equal(c.amqpUrl, 'amqp://worker:from-the-stack@127.0.0.1:5672');
  assert.equal(loadConnections(noStack, 'listener').redisUrl, 'redis://127.0.0.1:6379');
});

test('a missing, short or readable-by-others secret stops the process with what to set', () => {
  assert.throws(
    () => loadConnections(noStack, 'detector'),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(
        err.message,
        /FLEETCAP_REDIS_PASSWORD_FILE \(not set\): no secret: .*stack\.sh up.*redis-detector\.password/,
      );
      assert.match(err.message, /FLEETCAP_AMQP_PASSWORD_FILE \(not set\): no secret/);
      return true;
    },
  );
  assert.throws(
    () => loadConnections({ ...operatorSecrets, FLEETCAP_AMQP_PASSWORD: 'short' }),
    /FLEETCAP_AMQP_PASSWORD=<hidden, 5 characters>: must be at least 8 characters long/,
  );
  const open = stackWith(
    { 'redis-detector.password': 'a-long-secret', 'amqp-detector.password': 'a-long-secret' },
    0o644,
  );
  assert.throws(() => loadConnections({ FLEETCAP_STACK_HOME: open }, 'detector'), /is readable by others \(mode 644\)/);
});

test('a bad value names the variable, the value and the problem', () => {
  assert.throws(
    () => loadConnections({ ...operatorSecrets, FLEETCAP_MYSQL_PORT: '99999', FLEETCAP_CONNECT_URL: 'not a url' }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /FLEETCAP_MYSQL_PORT="99999": .*65535/);
      assert.match(err.message, /FLEETCAP_CONNECT_URL="not a url": must be a URL such as http:\/\/host:port/);
      assert.match(err.message, /Fix these variables/);
      assert.deepEqual(
        err.issues.map((i) => [i.variable, i.value]),
        [
          ['FLEETCAP_MYSQL_PORT', '99999'],
          ['FLEETCAP_CONNECT_URL', 'not a url'],
        ],
      );
      return true;
    },
  );
});

test("zod's texts become what is allowed; a schema's own message is kept", () => {
  const schema = z.object({
    A: z.coerce.number().int().min(5),
    B: z.coerce.number().max(9),
    C: z.enum(['x', 'y']),
    D: z.string(),
    E: z.string().min(3, 'E wants three'),
    F: z.coerce.number().int(),
  });
  assert.throws(
    () => parseEnv(schema, { A: '2', B: '10', C: 'z', E: 'e', F: '1.5' }, 'unit'),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /^invalid unit configuration in the environment:\n/);
      assert.match(err.message, /\n {2}A="2": must be at least 5\n/);
      assert.match(err.message, /\n {2}B="10": must be at most 9\n/);
      assert.match(err.message, /\n {2}C="z": must be one of x, y\n/);
      assert.match(err.message, /\n {2}D \(not set\): required\n/);
      assert.match(err.message, /\n {2}E="e": E wants three\n/);
      assert.match(err.message, /\n {2}F="1.5": must be a whole number\n/);
      return true;
    },
  );
});

test('secrets are not printed back', () => {
  const schema = z.object({ FLEETCAP_X_PASSWORD: z.string().min(8), FLEETCAP_X_TOKENS: z.string().min(20) });
  assert.throws(
    () => parseEnv(schema, { FLEETCAP_X_PASSWORD: 'short', FLEETCAP_X_TOKENS: 'a=b' }, 'unit'),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /FLEETCAP_X_PASSWORD=<hidden, 5 characters>: must be at least 8 characters long/);
      assert.match(err.message, /FLEETCAP_X_TOKENS=<hidden, 3 characters>/);
      assert.doesNotMatch(err.message, /short|a=b/);
      return true;
    },
  );
});

test('loadAll reports the refused variables of every loader at once, each variable once', () => {
  // forecast's connections need no secret, so the test does not depend on a stack having generated them.
  const appConnections = (env: Record<string, string | undefined>) => loadConnections(env, 'forecast');
  const own = z.object({ FLEETCAP_UNIT_N: z.coerce.number().min(1) });
  assert.deepEqual(
    loadAll('unit', { own: (env) => parseEnv(own, env, 'unit'), connections: appConnections }, { FLEETCAP_UNIT_N: '3' })
      .own,
    { FLEETCAP_UNIT_N: 3 },
  );
  assert.throws(
    () =>
      loadAll(
        'unit',
        {
          own: (env) => parseEnv(own, env, 'unit'),
          connections: appConnections,
          again: appConnections,
          other: () => {
            throw new ConfigError('no agent config: set FLEETCAP_AGENT_CONFIG');
          },
        },
        { FLEETCAP_UNIT_N: '0', FLEETCAP_REDIS_PORT: 'x' },
      ),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(
        err.issues.map((i) => i.variable),
        ['FLEETCAP_UNIT_N', 'FLEETCAP_REDIS_PORT'],
      );
      assert.match(err.message, /^invalid unit configuration in the environment:\n/);
      assert.match(err.message, /\n {2}no agent config: set FLEETCAP_AGENT_CONFIG\n/);
      return true;
    },
  );
  assert.throws(() => loadAll('unit', { bug: () => JSON.parse('{') }, {}), SyntaxError);
});

test('each service is given the secrets of the servers its table entry names, and no other', () => {
  // The console keeps its sign-in sessions in Redis and has no queue: no RabbitMQ secret is looked for.
  const home = stackWith({ 'redis-console.password': 'console-redis-pw' });
  const c = loadConnections({ FLEETCAP_STACK_HOME: home }, 'console');
  assert.equal(c.redisUrl, 'redis://console:console-redis-pw@127.0.0.1:6379');
  assert.equal(c.amqpUrl, 'amqp://127.0.0.1:5672', 'no RabbitMQ user');
  assert.deepEqual(serviceServers.console, { redis: 'console' });
  for (const service of ['config-sync', 'forecast', 'listener'] as const) {
    const none = loadConnections(noStack, service);
    assert.equal(none.redisUrl, 'redis://127.0.0.1:6379', service);
    assert.equal(none.amqpUrl, 'amqp://127.0.0.1:5672', service);
  }
  assert.equal(
    Object.entries(serviceServers).filter(([, s]) => s.mysqlAdmin).length,
    1,
    'only the operator has the admin account',
  );
});
