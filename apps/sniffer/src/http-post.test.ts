import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { httpPost } from './http-post.ts';

async function server(handler: Parameters<typeof createServer>[1]) {
  const s = createServer(handler);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const url = new URL(`http://127.0.0.1:${(s.address() as AddressInfo).port}/v1/batches`);
  return {
    url,
    close: () =>
      new Promise<void>((r) => {
        s.closeAllConnections();
        s.close(() => r());
      }),
  };
}

test('an answer resolves with status, headers and body', async () => {
  const s = await server((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
    });
    req.on('end', () => res.writeHead(503, { 'retry-after': '2' }).end(`got ${n}`));
  });
  try {
    const r = await httpPost(s.url, { 'x-a': '1' }, Buffer.alloc(100_000), 5000);
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], '2');
    assert.equal(r.body, 'got 100000');
  } finally {
    await s.close();
  }
});

test('a peer that closes the connection mid-request is an error, never a pending promise', async () => {
  const s = await server((req) => req.socket.destroy());
  try {
    await assert.rejects(httpPost(s.url, {}, Buffer.alloc(1_000_000), 5000), /ECONNRESET|socket hang up|EPIPE|closed/);
  } finally {
    await s.close();
  }
});

test('no answer in time, or an abort, rejects', async () => {
  const s = await server(() => {
    // never answers
  });
  try {
    await assert.rejects(httpPost(s.url, {}, Buffer.from('x'), 200), { name: 'TimeoutError' });
    const c = new AbortController();
    const p = httpPost(s.url, {}, Buffer.from('x'), 5000, c.signal);
    c.abort(new Error('stopping'));
    await assert.rejects(p, { name: 'AbortError' });
  } finally {
    await s.close();
  }
});

test('a signal aborted before the request starts rejects, and nothing throws from an event', async () => {
  const controller = new AbortController();
  controller.abort(new Error('sniffer stopping: drain time is over'));
  await assert.rejects(
    httpPost(new URL('http://127.0.0.1:9/v1/batches'), {}, Buffer.alloc(10), 1000, controller.signal),
    /drain time is over/,
  );
  // An unhandled 'error' event of the destroyed request would fail the test run (uncaught exception) by now.
  await new Promise((r) => setTimeout(r, 50));
});
