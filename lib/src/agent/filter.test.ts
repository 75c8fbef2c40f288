import assert from 'node:assert/strict';
import { test } from 'node:test';
import { composeFilter, exclusionFilter, uploadEndpoint } from './filter.ts';

test('upload endpoint: explicit port, scheme defaults, IPv6 literal', () => {
  assert.deepEqual(uploadEndpoint('http://10.0.0.5:8080/'), { host: '10.0.0.5', port: 8080 });
  assert.deepEqual(uploadEndpoint('http://splitcap.internal'), { host: 'splitcap.internal', port: 80 });
  assert.deepEqual(uploadEndpoint('https://splitcap.internal/base'), { host: 'splitcap.internal', port: 443 });
  assert.deepEqual(uploadEndpoint('http://[::1]:9000'), { host: '::1', port: 9000 });
});

test('the exclusion is always there, ANDed with the user filter in parentheses', () => {
  assert.equal(composeFilter('', 'http://10.0.0.5:8080'), 'not (host 10.0.0.5 and tcp port 8080)');
  assert.equal(composeFilter('   ', 'http://10.0.0.5:8080'), 'not (host 10.0.0.5 and tcp port 8080)');
  assert.equal(
    composeFilter('udp or tcp port 80', 'http://10.0.0.5:8080'),
    '(udp or tcp port 80) and not (host 10.0.0.5 and tcp port 8080)',
    'the parentheses keep "or" in the user filter from escaping the exclusion',
  );
  assert.equal(exclusionFilter('http://[fe80::1]:80'), 'not (host fe80::1 and tcp port 80)');
});
