import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConnections } from '../config/connections.ts';
import { amqpNodeUrls, parseAmqpNodes } from './amqp-nodes.ts';

const env = {
  FLEETCAP_REDIS_URL: 'redis://u:p@127.0.0.1:6379',
  FLEETCAP_AMQP_URL: 'amqp://w%40x:p%2Fq@rabbit:5672/vh',
};

test('FLEETCAP_AMQP_CLUSTER_NODES: one URL per node with the login and vhost of the AMQP URL, in the order given', () => {
  const c = loadConnections(
    { ...env, FLEETCAP_AMQP_CLUSTER_NODES: '127.0.0.1:5701, rabbit-b:5702,[::1]:5703' },
    'splitcap',
  );
  assert.deepEqual(c.amqpUrls, [
    'amqp://w%40x:p%2Fq@127.0.0.1:5701/vh',
    'amqp://w%40x:p%2Fq@rabbit-b:5702/vh',
    'amqp://w%40x:p%2Fq@[::1]:5703/vh',
  ]);
  assert.equal(c.amqpUrl, c.amqpUrls[0]);
  assert.deepEqual(
    loadConnections(env, 'splitcap').amqpUrls,
    ['amqp://w%40x:p%2Fq@rabbit:5672/vh'],
    'unset: one server',
  );
  assert.deepEqual(amqpNodeUrls('amqp://h:1', []), ['amqp://h:1']);
});

test('a bad node is one startup error naming the variable, the entry and the form wanted', () => {
  for (const bad of ['127.0.0.1', 'h:0', 'h:70000', 'a:1,,b:2', 'amqp://h:5701']) {
    assert.throws(
      () => parseAmqpNodes(bad),
      /^Error: FLEETCAP_AMQP_CLUSTER_NODES: ".*" is not host:port; give the RabbitMQ cluster's nodes .*rabbitmq-cluster\.sh urls/,
    );
    assert.throws(
      () => loadConnections({ ...env, FLEETCAP_AMQP_CLUSTER_NODES: bad }, 'session-worker'),
      /FLEETCAP_AMQP_CLUSTER_NODES: ".*" is not host:port/,
    );
  }
});
