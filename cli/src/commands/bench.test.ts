import assert from 'node:assert/strict';
import { test } from 'node:test';
import { benchArgs } from './bench.ts';

test('fleetcap bench passes its options to bench/run-all.sh', () => {
  assert.deepEqual(benchArgs({}), []);
  assert.deepEqual(benchArgs({ short: true, only: 'capture,forecast', out: '/tmp/r.md' }), [
    '--short',
    '--only',
    'capture,forecast',
    '--out',
    '/tmp/r.md',
  ]);
});
