import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bearerMatches, isLoopbackHost } from './bearer.ts';

test('a bearer token matches only itself', () => {
  assert.equal(bearerMatches('Bearer s3cret-token', 's3cret-token'), true);
  assert.equal(bearerMatches('Bearer s3cret-tokeN', 's3cret-token'), false);
  assert.equal(bearerMatches('s3cret-token', 's3cret-token'), false);
  assert.equal(bearerMatches(undefined, 's3cret-token'), false);
});

test('loopback hosts need no credential; any other address does', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.equal(isLoopbackHost(h), true, h);
  for (const h of ['0.0.0.0', '::', '10.0.0.5', 'forecast']) assert.equal(isLoopbackHost(h), false, h);
});
