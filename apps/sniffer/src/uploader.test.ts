// The uploader acts on splitcap's answers as the upload contract (lib/src/upload/batch-upload.ts) says. Real
// splitcap answers are in test/integration/agent-sniffer.test.ts (202, 400, and splitcap down); a 415 cannot be
// provoked there, because the sniffer always sends the contract's capture type, so the answers are given here.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CAPTURE_CONTENT_TYPE } from '@fleetcap/lib/upload/batch-upload';
import type { PostResult } from './http-post.ts';
import { Spool } from './spool.ts';
import { type UploadEvent, Uploader } from './uploader.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Call {
  url: string;
  headers: Record<string, string>;
}

/** An uploader whose POSTs get `answers` in turn (the last one repeats). */
function uploaderAnswering(answers: PostResult[]) {
  const dir = mkdtempSync(join(tmpdir(), 'fleetcap-uploader-test-'));
  dirs.push(dir);
  const spool = new Spool({ dir, maxBytes: 1_000_000 });
  const calls: Call[] = [];
  const events: UploadEvent[] = [];
  const uploader = new Uploader(spool, {
    url: 'http://splitcap.test:8080',
    agentId: 'host-1',
    token: 'token-12345678',
    concurrency: 1,
    backoff: { baseMs: 10, maxMs: 20 },
    maxWaitMs: 5000,
    requestTimeoutMs: 1000,
    onEvent: (e) => events.push(e),
    post: async (url, headers) => {
      calls.push({ url: url.toString(), headers });
      return answers[Math.min(calls.length - 1, answers.length - 1)]!;
    },
  });
  return { dir, spool, calls, events, uploader };
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('202: the batch is sent as the contract says and deleted', async () => {
  const u = uploaderAnswering([{ status: 202, headers: {}, body: '{"batchId":"x","duplicate":false}' }]);
  u.uploader.start();
  const entry = u.spool.add(Buffer.alloc(100), 3)!;
  await until(() => u.uploader.counters.batchesUploaded === 1);
  await u.uploader.stop(1000);
  assert.deepEqual(u.calls, [
    {
      url: 'http://splitcap.test:8080/v1/batches',
      headers: {
        'content-type': CAPTURE_CONTENT_TYPE,
        'x-fleetcap-agent': 'host-1',
        'x-fleetcap-batch': entry.id,
        authorization: 'Bearer token-12345678',
      },
    },
  ]);
  assert.equal(existsSync(entry.path), false, 'deleted from the spool');
});

for (const status of [415, 400, 413]) {
  test(`${status}: the batch moves to rejected/, is counted, and is sent once`, async () => {
    const u = uploaderAnswering([{ status, headers: {}, body: '{"error":"no"}' }]);
    u.uploader.start();
    const entry = u.spool.add(Buffer.alloc(100), 3)!;
    await until(() => u.uploader.counters.rejected === 1);
    await new Promise((r) => setTimeout(r, 100)); // several backoffs: a retry would show
    await u.uploader.stop(1000);
    assert.equal(u.calls.length, 1, 'never retried');
    assert.deepEqual(readdirSync(join(u.dir, 'rejected')), [`${entry.id}.n3.pcap`]);
    assert.equal(u.events[0]!.kind, 'rejected');
  });
}

test('401 (a token rotated meanwhile): the batch is kept, retried with the token read then, and sent', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleetcap-uploader-test-'));
  dirs.push(dir);
  const spool = new Spool({ dir, maxBytes: 1_000_000 });
  let token = 'old-token-12345678';
  const seen: string[] = [];
  const events: UploadEvent[] = [];
  const uploader = new Uploader(spool, {
    url: 'http://splitcap.test:8080',
    agentId: 'host-1',
    token: () => token,
    concurrency: 1,
    backoff: { baseMs: 10, maxMs: 20 },
    maxWaitMs: 5000,
    requestTimeoutMs: 1000,
    onEvent: (e) => events.push(e),
    post: async (_url, headers) => {
      seen.push(headers.authorization!);
      if (headers.authorization === 'Bearer new-token-12345678') return { status: 202, headers: {}, body: '{}' };
      return { status: 401, headers: {}, body: '{"error":"unknown token"}' };
    },
  });
  uploader.start();
  spool.add(Buffer.alloc(100), 3);
  await until(() => uploader.counters.unauthorized >= 2);
  token = 'new-token-12345678';
  await until(() => uploader.counters.batchesUploaded === 1);
  await uploader.stop(1000);
  assert.equal(uploader.counters.rejected, 0, 'never moved to rejected/');
  assert.equal(existsSync(join(dir, 'rejected')) && readdirSync(join(dir, 'rejected')).length > 0, false);
  assert.equal(seen.at(-1), 'Bearer new-token-12345678');
  const retry = events.find((e) => e.kind === 'retry');
  assert.ok(retry?.kind === 'retry' && retry.unauthorized && /^HTTP 401/.test(retry.error));
});

test('503 with Retry-After: retried after the time splitcap asks for, then done', async () => {
  const u = uploaderAnswering([
    { status: 503, headers: { 'retry-after': '1' }, body: '{"error":"not accepting batches now"}' },
    { status: 202, headers: {}, body: '{}' },
  ]);
  u.uploader.start();
  u.spool.add(Buffer.alloc(100), 3);
  const started = Date.now();
  await until(() => u.uploader.counters.batchesUploaded === 1);
  const waited = Date.now() - started;
  await u.uploader.stop(1000);
  assert.equal(u.calls.length, 2);
  assert.ok(waited >= 1000, `waited ${waited} ms for Retry-After: 1 (the backoff alone is at most 20 ms)`);
  const retry = u.events.find((e) => e.kind === 'retry');
  assert.ok(retry?.kind === 'retry' && retry.waitMs === 1000 && /^HTTP 503: /.test(retry.error));
  assert.equal(u.uploader.counters.rejected, 0);
});

test('another answer (404, 429, 500) is retried too', async () => {
  const u = uploaderAnswering([
    { status: 404, headers: {}, body: 'not found' },
    { status: 429, headers: {}, body: '' },
    { status: 500, headers: {}, body: '' },
    { status: 202, headers: {}, body: '{}' },
  ]);
  u.uploader.start();
  u.spool.add(Buffer.alloc(100), 3);
  await until(() => u.uploader.counters.batchesUploaded === 1);
  await u.uploader.stop(1000);
  assert.equal(u.calls.length, 4);
  assert.equal(u.uploader.counters.uploadFailures, 3);
});
