import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ZkCode, ZkTimeoutError } from '@fleetcap/lib/zookeeper/errors';
import { afterFailure, isPermanentApplyError } from './apply-retry.ts';

const policy = { permanentAttempts: 3, releaseAfterMs: 30_000 };
// As node-zookeeper-client rejects: an error carrying the numeric ZooKeeper code.
const zkError = (code: number) => Object.assign(new Error(`ZooKeeper error ${code}`), { code });

test('ZooKeeper refusals and MariaDB data errors are permanent; lost connections and timeouts are not', () => {
  assert.equal(isPermanentApplyError(zkError(ZkCode.NO_AUTH)), true);
  assert.equal(isPermanentApplyError(zkError(ZkCode.INVALID_ACL)), true);
  assert.equal(isPermanentApplyError(zkError(ZkCode.CONNECTION_LOSS)), false);
  assert.equal(isPermanentApplyError(zkError(ZkCode.SESSION_EXPIRED)), false);
  assert.equal(isPermanentApplyError(new ZkTimeoutError('ZooKeeper getData /x: no answer within 10000 ms')), false);
  assert.equal(isPermanentApplyError(Object.assign(new Error('Data too long'), { errno: 1406 })), true);
  assert.equal(
    isPermanentApplyError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
    false,
  );
});

test('a permanent failure is dead-lettered at the last attempt, any other released after the time budget', () => {
  const noAuth = zkError(ZkCode.NO_AUTH);
  assert.deepEqual(afterFailure(noAuth, 1, 0, 10, policy), { action: 'retry' });
  assert.deepEqual(afterFailure(noAuth, 3, 0, 10, policy), { action: 'dead-letter' });
  const lost = zkError(ZkCode.CONNECTION_LOSS);
  assert.deepEqual(afterFailure(lost, 50, 0, 29_999, policy), { action: 'retry' });
  assert.deepEqual(afterFailure(lost, 7, 0, 30_000, policy), { action: 'release' });
});
