import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  ACCEPTED_CONTENT_TYPES,
  BATCH_ID_PATTERN,
  batchesUrl,
  bearerToken,
  CAPTURE_CONTENT_TYPE,
  isAcceptedContentType,
  mediaType,
  parseRetryAfter,
  senderAction,
  UPLOAD_HEADERS,
  UploadStatus,
  uploadHeaders,
} from './batch-upload.ts';

describe('what each answer means to the sender', () => {
  test('2xx is done', () => {
    assert.equal(senderAction(UploadStatus.accepted), 'done');
    assert.equal(senderAction(200), 'done');
  });

  test('400, 401, 403, 413, 415 and 422 are final: the batch is rejected, never resent', () => {
    for (const status of [400, 401, 403, 413, 415, 422]) assert.equal(senderAction(status), 'reject', String(status));
    assert.equal(senderAction(UploadStatus.unsupportedType), 'reject');
    assert.equal(senderAction(UploadStatus.malformed), 'reject');
  });

  test('503 and every other answer are retried', () => {
    for (const status of [503, 500, 502, 504, 429, 408, 404, 409, 301, 0])
      assert.equal(senderAction(status), 'retry', String(status));
  });

  test('the spec in the header comment says what senderAction does, status by status', () => {
    const source = readFileSync(new URL('./batch-upload.ts', import.meta.url), 'utf8');
    const header = source.slice(0, source.indexOf('\nimport '));
    const entries = header.split(/\n(?=\/\/ {3}\d{3} )/).slice(1);
    const stated = new Map(
      entries.map((e) => [Number(e.slice(5, 8)), /sender: (done|reject|retry)/.exec(e)?.[1]] as const),
    );
    assert.deepEqual(
      [...stated.keys()].sort(),
      Object.values(UploadStatus).sort(),
      'every status of the contract is stated in the header',
    );
    for (const [status, action] of stated) assert.equal(action, senderAction(status), `the header on ${status}`);
  });
});

test('Retry-After: seconds, HTTP date, garbage', () => {
  assert.equal(parseRetryAfter('3'), 3000);
  assert.equal(parseRetryAfter(' 0 '), 0);
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now), 5000);
  assert.equal(parseRetryAfter('Thu, 01 Jan 2025 00:00:05 GMT', now), 0, 'a date in the past means now');
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.equal(parseRetryAfter(null), undefined);
  assert.equal(parseRetryAfter(undefined), undefined);
});

test('the upload URL sits under the base URL, with or without a path or a trailing slash', () => {
  assert.equal(batchesUrl('http://splitcap:8080'), 'http://splitcap:8080/v1/batches');
  assert.equal(batchesUrl('http://splitcap:8080/'), 'http://splitcap:8080/v1/batches');
  assert.equal(batchesUrl('https://gw.example/splitcap'), 'https://gw.example/splitcap/v1/batches');
});

test('a sender sends the headers splitcap reads', () => {
  const h = uploadHeaders('host-1', 's3cret-token', 'upload-0123456789abcdef-0');
  assert.deepEqual(h, {
    [UPLOAD_HEADERS.contentType]: CAPTURE_CONTENT_TYPE,
    [UPLOAD_HEADERS.agent]: 'host-1',
    [UPLOAD_HEADERS.batch]: 'upload-0123456789abcdef-0',
    [UPLOAD_HEADERS.authorization]: 'Bearer s3cret-token',
  });
  assert.equal(bearerToken(h.authorization), 's3cret-token');
  assert.ok(isAcceptedContentType(h['content-type']));
  assert.ok(BATCH_ID_PATTERN.test(h['x-fleetcap-batch']!));
  assert.equal(uploadHeaders('host-1', '', 'b').authorization, undefined, 'no token, no Authorization');
});

test('bearer tokens and content types are read as splitcap reads them', () => {
  assert.equal(bearerToken('Bearer abc def'), 'abc def');
  assert.equal(bearerToken('Basic abc'), undefined);
  assert.equal(bearerToken('Bearer '), undefined);
  assert.equal(bearerToken(undefined), undefined);
  assert.equal(mediaType(undefined), 'application/octet-stream', 'none means octet-stream');
  assert.equal(mediaType(' Application/VND.tcpdump.pcap ; x=1'), CAPTURE_CONTENT_TYPE);
  for (const t of ACCEPTED_CONTENT_TYPES) assert.ok(isAcceptedContentType(t), t);
  assert.ok(isAcceptedContentType(undefined));
  assert.ok(isAcceptedContentType('application/x-www-form-urlencoded'), "curl --data-binary's default");
  assert.equal(isAcceptedContentType('text/plain'), false);
  assert.equal(isAcceptedContentType('multipart/form-data; boundary=x'), false);
});

test('batch ids: 1-128 characters of A-Z a-z 0-9 . _ : -', () => {
  assert.ok(BATCH_ID_PATTERN.test('1700000000000-4242-000000001-a1b2c3'));
  assert.ok(BATCH_ID_PATTERN.test(`sha256-${'f'.repeat(64)}`));
  assert.ok(BATCH_ID_PATTERN.test('x'.repeat(128)));
  assert.equal(BATCH_ID_PATTERN.test('x'.repeat(129)), false);
  assert.equal(BATCH_ID_PATTERN.test(''), false);
  assert.equal(BATCH_ID_PATTERN.test('a/b'), false);
  assert.equal(BATCH_ID_PATTERN.test('a b'), false);
});
