import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConnections } from './connections.ts';

test('defaults point at the local stack on loopback', () => {
  const c = loadConnections({});
  assert.equal(c.redisUrl, 'redis://127.0.0.1:6379');
  assert.equal(c.amqpUrl, 'amqp://fleetcap:fleetcap@127.0.0.1:5672');
  assert.deepEqual(c.mysql, { host: '127.0.0.1', port: 3306, database: 'fleetcap' });
  assert.equal(c.zookeeper, '127.0.0.1:2181');
  assert.deepEqual(c.kafkaBrokers, ['127.0.0.1:9092']);
  assert.equal(c.connectUrl, 'http://127.0.0.1:8083');
});

test('explicit URLs and broker lists win over ports', () => {
  const c = loadConnections({
    FLEETCAP_KAFKA_BROKERS: 'k1:9092, k2:9092',
    FLEETCAP_AMQP_PASSWORD: 'p@ss/word',
    FLEETCAP_REDIS_PORT: '7000',
  });
  assert.deepEqual(c.kafkaBrokers, ['k1:9092', 'k2:9092']);
  assert.equal(c.amqpUrl, 'amqp://fleetcap:p%40ss%2Fword@127.0.0.1:5672', 'credentials are URL-encoded');
  assert.equal(c.redisUrl, 'redis://127.0.0.1:7000');
});

test('a bad value names the variable, the value and the problem', () => {
  assert.throws(
    () => loadConnections({ FLEETCAP_MYSQL_PORT: '99999', FLEETCAP_CONNECT_URL: 'not a url' }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /FLEETCAP_MYSQL_PORT="99999": .*65535/);
      assert.match(err.message, /FLEETCAP_CONNECT_URL="not a url": Invalid url/);
      assert.match(err.message, /Fix these variables/);
      return true;
    },
  );
});
