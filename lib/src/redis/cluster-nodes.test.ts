import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConnections } from '../config/connections.ts';
import { parseClusterNodes } from './cluster-nodes.ts';

test('FLEETCAP_REDIS_CLUSTER_NODES: host:port seeds, IPv6 in brackets; unset or empty is a single server', () => {
  assert.deepEqual(parseClusterNodes('127.0.0.1:7101, redis-b:7102,[::1]:7103'), [
    { host: '127.0.0.1', port: 7101 },
    { host: 'redis-b', port: 7102 },
    { host: '::1', port: 7103 },
  ]);
  assert.equal(parseClusterNodes(undefined), undefined);
  assert.equal(parseClusterNodes('  '), undefined);
});

test('a bad seed is a startup error that names the variable, the entry and the form wanted', () => {
  for (const bad of ['127.0.0.1', '127.0.0.1:0', 'host:99999', 'a:1,,b:2', 'redis://x:1']) {
    assert.throws(() => parseClusterNodes(bad), /FLEETCAP_REDIS_CLUSTER_NODES: ".*" is not host:port; .*e\.g\. 127/);
  }
  const env = { FLEETCAP_REDIS_URL: 'redis://u:p@127.0.0.1:6379', FLEETCAP_AMQP_URL: 'amqp://u:p@127.0.0.1:5672' };
  assert.throws(
    () => loadConnections({ ...env, FLEETCAP_REDIS_CLUSTER_NODES: 'nope' }, 'splitcap'),
    /FLEETCAP_REDIS_CLUSTER_NODES/,
  );
  assert.deepEqual(loadConnections({ ...env, FLEETCAP_REDIS_CLUSTER_NODES: 'h:1' }, 'splitcap').redisClusterNodes, [
    { host: 'h', port: 1 },
  ]);
  assert.equal(loadConnections(env, 'splitcap').redisClusterNodes, undefined);
});
