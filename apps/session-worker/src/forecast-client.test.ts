// How the worker reads forecast's answers (pure: status and body in, the error they stand for out; real forecast
// answers are in test/integration/session-worker.test.ts), a refused connection, and withRetry's rethrowing of
// errors it must not retry.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, test } from 'node:test';
import { buildSession } from '@fleetcap/lib/session-store/reader';
import {
  answerError,
  answerOf,
  errorDetail,
  ForecastClient,
  ForecastRejected,
  ForecastUnavailable,
} from './forecast-client.ts';
import { StoppedWhileRetrying, withRetry } from './retry.ts';

const message = {
  key: 'tcp/10.0.0.2/443/10.0.0.9/51000',
  reason: 'delay' as const,
  occurrence: 1,
  agent: 'a1',
  communityId: '1:LQU9qZlK+B5F3KDmev6m5PMibrg=',
  enqueuedAt: 1,
};
const meta = {
  agent: 'a1',
  initiator: '1',
  occurrence: '1',
  first: '1',
  last: '2',
  packets: '1',
  overflow: '0',
  bytes: '74',
};
const session = buildSession(message, meta, ['1:1:1:74:0:2']);

function classifyError(status: number, body: string): Error {
  const err = answerError(status, body);
  assert.ok(err, `a ${status} answer stands for an error`);
  return err;
}

describe('forecast client', () => {
  test('a 2xx answer gives label, score, alert and unknown per session; another shape is ForecastUnavailable', () => {
    const result = { label: 'portscan', score: 0.7, alert: true, unknown: false, scores: {} };
    assert.deepEqual(answerOf(JSON.stringify({ modelVersion: 'm', results: [result] }), 1), {
      modelVersion: 'm',
      verdicts: [{ label: 'portscan', score: 0.7, alert: true, unknown: false }],
    });
    const older = JSON.stringify({ modelVersion: 'm', results: [{ label: 'portscan', score: 0.7 }] });
    assert.throws(
      () => answerOf(older, 1),
      (err: Error) =>
        err instanceof ForecastUnavailable &&
        err.message ===
          'forecast result 0 has no alert and unknown: forecast is older than this session-worker; upgrade forecast first',
    );
    assert.throws(() => answerOf(JSON.stringify({ modelVersion: 'm', results: [result] }), 2), /without 2 results/);
    assert.throws(() => answerOf('<html>', 1), ForecastUnavailable);
    assert.throws(
      () => answerOf(JSON.stringify({ modelVersion: 'm', results: [{ score: 1 }] }), 1),
      /no label or score/,
    );
  });

  test('a 2xx answer is no error', () => {
    assert.equal(answerError(200, JSON.stringify({ modelVersion: 'm1', results: [] })), null);
  });

  test('400, 413 and 422 are ForecastRejected with the status and forecast message', () => {
    const e400 = classifyError(
      400,
      JSON.stringify({
        error: 'sessions[0].packets: must hold at most 8 packets',
        path: 'sessions[0].packets',
        session: 0,
      }),
    );
    assert.ok(e400 instanceof ForecastRejected, String(e400));
    assert.equal(e400.status, 400);
    assert.equal(e400.detail, 'sessions[0].packets: must hold at most 8 packets');
    assert.equal(e400.session, 0);
    assert.equal(e400.message, 'forecast refused the request (400): sessions[0].packets: must hold at most 8 packets');

    const e413 = classifyError(
      413,
      JSON.stringify({ error: 'body is over the limit of 1024 bytes: send fewer sessions per request' }),
    );
    assert.ok(e413 instanceof ForecastRejected);
    assert.equal(e413.status, 413);
    assert.equal(e413.session, undefined);
    assert.match(e413.detail, /over the limit of 1024 bytes/);

    const e422 = classifyError(422, 'not json at all');
    assert.ok(e422 instanceof ForecastRejected);
    assert.equal(e422.detail, 'not json at all', 'a body that is not JSON is quoted as it is');
  });

  test('5xx, 408, 429 and other 4xx (wrong server or version) stay ForecastUnavailable, to be retried', () => {
    for (const status of [500, 502, 503, 408, 429, 404, 415]) {
      const err = classifyError(status, JSON.stringify({ error: 'nope' }));
      assert.ok(err instanceof ForecastUnavailable, `${status}: ${err}`);
      assert.match(err.message, new RegExp(`^forecast answered ${status}: `));
    }
  });

  test('no peer is ForecastUnavailable', async () => {
    const idle = createServer();
    await new Promise<void>((r) => idle.listen(0, '127.0.0.1', () => r()));
    const port = (idle.address() as { port: number }).port;
    await new Promise((r) => idle.close(r));
    await assert.rejects(new ForecastClient(`http://127.0.0.1:${port}`, 2000).classify([session]), (err: Error) => {
      assert.ok(err instanceof ForecastUnavailable);
      assert.match(err.message, /is unreachable \(ECONNREFUSED\)/);
      return true;
    });
  });

  test("forecast's message is one line, truncated", () => {
    const long = 'x'.repeat(1000);
    const { detail } = errorDetail(JSON.stringify({ error: `a\n  b ${long}` }));
    assert.equal(detail.length, 301);
    assert.ok(detail.startsWith('a b xxx') && detail.endsWith('…'));
    assert.equal(errorDetail('').detail, '(empty body)');
  });
});

describe('withRetry', () => {
  const quick = { isStopping: () => false, baseMs: 1, maxMs: 2 };

  test('retries every error by default, until the step passes', async () => {
    let calls = 0;
    const retried: number[] = [];
    const value = await withRetry(
      async () => {
        if (++calls < 3) throw new ForecastRejected(400, 'bad');
        return 'ok';
      },
      { ...quick, stage: 's', onRetry: (_s, attempt) => retried.push(attempt) },
    );
    assert.equal(value, 'ok');
    assert.deepEqual(retried, [1, 2]);
  });

  test('an error retryable() refuses is rethrown at once, others are retried', async () => {
    let calls = 0;
    const retried: string[] = [];
    const rejected = new ForecastRejected(413, 'too big');
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          throw calls === 1 ? new ForecastUnavailable('away') : rejected;
        },
        {
          ...quick,
          stage: 'forecast',
          retryable: (err) => !(err instanceof ForecastRejected),
          onRetry: (_s, _a, err) => retried.push(err.message),
        },
      ),
      (err) => err === rejected,
    );
    assert.equal(calls, 2);
    assert.deepEqual(retried, ['away']);
  });

  test('a worker that stops ends the retries', async () => {
    await assert.rejects(
      withRetry(() => Promise.reject(new Error('away')), { stage: 'load', isStopping: () => true, onRetry: () => {} }),
      (err) => err instanceof StoppedWhileRetrying && /load: stopping after away/.test(err.message),
    );
  });
});
