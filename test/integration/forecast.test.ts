// forecast as a real process: it classifies batches of sessions exactly as the in-process classifier does with
// the same model and features, serves its model card, answers malformed requests with a 400 that names the session
// and field, bounds request sizes, counts what it did in /metrics, stops cleanly on SIGTERM, and refuses to start
// with a model that does not fit the feature code. Needs no servers and no Python (the committed model is used).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Classifier } from '@fleetcap/lib/classifier/model';
import { alertPolicyOf, decideAlert } from '@fleetcap/lib/features/alert-policy';
import { sessionizeCapture } from '@fleetcap/lib/features/capture';
import { FEATURE_NAMES, type FeatureSession } from '@fleetcap/lib/features/features';
import { featureSessionOf } from '@fleetcap/lib/features/from-session';
import { wireSession } from '@fleetcap/lib/features/wire';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { repoRoot } from '../helpers/stack.ts';

const modelPath = join(repoRoot, 'model/model.onnx');
const cardPath = join(repoRoot, 'model/model-card.json');
const card = JSON.parse(readFileSync(cardPath, 'utf8')) as {
  modelVersion: string;
  classes: string[];
  features: { names: string[] };
};
const shared = join(repoRoot, '..', 'shared', 'pcaps');
const realCaptures = [
  'slips/test8-malicious.pcap',
  'tcpdump-tests/of13_ericsson.pcapng',
  'tcpdump-tests/resp_3_malicious.pcap',
  'tcpdump-tests/resp_1_benchmark.pcap',
  'tcpdump-tests/tfo-5c1fa7f9ae91.pcap',
  'tcpdump-tests/mptcp-v0.pcap',
].map((f) => join(shared, f));
const work = mkdtempSync(join(tmpdir(), 'forecast-it-'));
const MAX_BODY = 256 * 1024;
const MAX_SESSIONS = 300;

let app: RunningApp;
let base: string;
let local: Classifier;

const T0 = 1_795_500_000_000_000;
function handBuilt(i: number): FeatureSession {
  const tcp = i % 3 !== 0;
  return {
    proto: tcp ? 'tcp' : 'udp',
    clientPort: 40000 + i,
    serverPort: [22, 80, 443, 53, 8080, 3306][i % 6]!,
    packets: tcp
      ? [
          { direction: 0, tsUs: T0, wireLength: 74, payloadLength: 0, tcpFlags: 0x02 },
          { direction: 1, tsUs: T0 + 40 + i, wireLength: 74, payloadLength: 0, tcpFlags: 0x12 },
          { direction: 0, tsUs: T0 + 80 + i, wireLength: 66, payloadLength: 0, tcpFlags: 0x10 },
          { direction: 0, tsUs: T0 + 500 + i, wireLength: 66 + i, payloadLength: i, tcpFlags: 0x18 },
        ]
      : [
          { direction: 0, tsUs: T0, wireLength: 80, payloadLength: 38, tcpFlags: 0 },
          { direction: 1, tsUs: T0 + 300, wireLength: 120 + i, payloadLength: 78 + i, tcpFlags: 0 },
        ],
  };
}

async function post(body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const res = await fetch(`${base}/v1/forecast`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('forecast', () => {
  before(async () => {
    app = await startApp('forecast', {
      FLEETCAP_FORECAST_PORT: '0',
      FLEETCAP_MODEL_PATH: modelPath,
      FLEETCAP_FORECAST_MAX_BODY_BYTES: String(MAX_BODY),
      FLEETCAP_FORECAST_MAX_SESSIONS: String(MAX_SESSIONS),
    });
    base = `http://127.0.0.1:${app.port}`;
    local = await Classifier.load({ modelPath });
  });

  after(async () => {
    await app?.stop();
    await local?.release();
    rmSync(work, { recursive: true, force: true });
  });

  test('classifies a batch like the in-process classifier, one result per session in order', async () => {
    const sessions = Array.from({ length: 50 }, (_, i) => handBuilt(i));
    const res = await post({ sessions });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.modelVersion, card.modelVersion);
    const results = res.body.results as Array<{ label: string; score: number; scores: Record<string, number> }>;
    assert.equal(results.length, sessions.length);
    assert.deepEqual(results, await local.classify(sessions), 'same model, same features, same verdicts');
    for (const r of results) {
      assert.ok(card.classes.includes(r.label));
      assert.deepEqual(Object.keys(r.scores), card.classes);
      assert.equal(r.scores[r.label], r.score);
    }
    const single = await post({ sessions: [sessions[7]] });
    assert.deepEqual(
      (single.body.results as unknown[])[0],
      results[7],
      'a session alone gets the verdict it got in a batch',
    );
  });

  test('classifies the sessions of real captures, as splitcap would store them', async (t) => {
    const files = realCaptures.filter((f) => existsSync(f));
    if (files.length === 0) {
      t.skip(`SKIPPED: none of ${realCaptures.join(', ')} is present`);
      return;
    }
    const sessions: FeatureSession[] = [];
    for (const file of files) sessions.push(...(await sessionizeCapture(file)).sessions.map(featureSessionOf));
    assert.ok(sessions.length > 0);
    // Several requests, as a worker sends them.
    const results: unknown[] = [];
    for (let i = 0; i < sessions.length; i += 20) {
      // Packets carry their payload's first bytes (base64), as the worker sends them from the stored frames.
      const res = await post({ sessions: sessions.slice(i, i + 20).map(wireSession) });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      results.push(...(res.body.results as unknown[]));
    }
    assert.deepEqual(results, await local.classify(sessions));
  });

  test('GET /v1/model returns the model card', async () => {
    const res = await fetch(`${base}/v1/model`);
    assert.equal(res.status, 200);
    const served = (await res.json()) as { classes: string[]; features: { names: string[] } };
    assert.deepEqual(served, card);
    assert.ok(served.classes.includes('benign'));
    assert.deepEqual(served.features.names, FEATURE_NAMES.slice(0, served.features.names.length));
  });

  test('answers malformed requests with a 400 naming the session and field', async () => {
    const good = handBuilt(1);
    const bad = { ...good, packets: [...good.packets.slice(0, 2), { ...good.packets[2]!, tcpFlags: 300 }] };
    let res = await post({ sessions: [good, good, bad] });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, {
      error: 'sessions[2].packets[2].tcpFlags: must be an integer 0-255, got 300',
      path: 'sessions[2].packets[2].tcpFlags',
      session: 2,
    });
    res = await post({ sessions: [good, { ...good, proto: 'sctp' }] });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'sessions[1].proto: must be "tcp" or "udp", got "sctp"');
    res = await post({ sessions: [{ ...good, packets: [] }] });
    assert.equal(res.body.error, 'sessions[0].packets: must hold at least one packet');
    res = await post({ session: [good] });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'sessions: required: an array of sessions');
    res = await post('{"sessions": [');
    assert.equal(res.status, 400);
    assert.match(String(res.body.error), /^body is not valid JSON/);
    res = await post({ sessions: [good] }, { 'content-type': 'text/plain' });
    assert.equal(res.status, 415);
  });

  test('bounds the request: sessions per request and bytes', async () => {
    const s = handBuilt(2);
    let res = await post({ sessions: Array.from({ length: MAX_SESSIONS + 1 }, () => s) });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, `sessions: must hold at most ${MAX_SESSIONS} sessions per request`);
    const big = { ...s, packets: Array.from({ length: 1000 }, (_, i) => ({ ...s.packets[0]!, tsUs: T0 + i })) };
    res = await post({ sessions: [big, big, big, big] });
    assert.equal(res.status, 413);
    assert.match(String(res.body.error), new RegExp(`over the limit of ${MAX_BODY} bytes`));
  });

  test('/healthz and /metrics tell what it did', async () => {
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    // Every app's /healthz shape; the model's version and classes are GET /v1/model's.
    assert.deepEqual(await health.json(), { ok: true, checks: { model: 'ok' } });
    const model = (await (await fetch(`${base}/v1/model`)).json()) as { modelVersion: string; classes: string[] };
    assert.equal(model.modelVersion, card.modelVersion);
    assert.equal(model.classes.length, card.classes.length);
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, /fleetcap_forecast_requests_total\{status="200",app="forecast"\} \d+/);
    assert.match(text, /fleetcap_forecast_requests_total\{status="400",app="forecast"\} \d+/);
    assert.match(text, /fleetcap_forecast_sessions_total\{app="forecast"\} \d+/);
    assert.match(text, /fleetcap_forecast_verdicts_total\{label="[a-z]+",app="forecast"\} \d+/);
    assert.match(text, /fleetcap_forecast_request_duration_seconds_bucket/);
    const sessions = Number(/fleetcap_forecast_sessions_total\{app="forecast"\} (\d+)/.exec(text)?.[1]);
    const perLabel = [
      ...text.matchAll(/fleetcap_forecast_verdicts_total\{label="[a-z]+",app="forecast"\} (\d+)/g),
    ].reduce((sum, m) => sum + Number(m[1]), 0);
    assert.equal(perLabel, sessions, 'the per-label counts add up to the sessions classified');
  });

  test('refuses to start with a model whose input does not fit the feature code', async () => {
    const cardNoSha = join(work, 'card.json');
    const parsed = JSON.parse(readFileSync(cardPath, 'utf8')) as Record<string, unknown>;
    delete parsed.modelSha256;
    writeFileSync(cardNoSha, JSON.stringify(parsed));
    await assert.rejects(
      startApp('forecast', {
        FLEETCAP_FORECAST_PORT: '0',
        FLEETCAP_MODEL_PATH: join(repoRoot, 'model/fixtures/wrong-input.onnx'),
        FLEETCAP_MODEL_CARD_PATH: cardNoSha,
      }),
      (err: Error) => {
        assert.match(err.message, /exited with 2 before it was ready/);
        assert.match(
          err.message,
          new RegExp(
            `refusing to start: .*input "features" is float32 \\[.*, 5\\]; the feature code makes float32 \\[N, ${card.features.names.length}\\]`,
          ),
        );
        return true;
      },
    );
    await assert.rejects(
      startApp('forecast', {
        FLEETCAP_FORECAST_PORT: '0',
        FLEETCAP_MODEL_PATH: join(repoRoot, 'model/fixtures/wrong-input.onnx'),
      }),
      /refusing to start: .*cannot read the model card/,
    );
  });

  test("answers alert and unknown per session from the card's alertPolicy", async () => {
    const results = (await post({ sessions: Array.from({ length: 30 }, (_, i) => handBuilt(i)) })).body
      .results as Array<{
      label: string;
      score: number;
      alert: boolean;
      unknown: boolean;
      scores: Record<string, number>;
    }>;
    // The committed card's policy (without one: every attack label alerts, nothing is unknown) on the scores served.
    const served = alertPolicyOf(card, 'card');
    for (const r of results) {
      const d = decideAlert(
        card.classes.map((c) => r.scores[c]!),
        card.classes,
        served,
      );
      assert.deepEqual(
        [r.label, r.score, r.alert, r.unknown],
        [d.label, d.score, d.alert, d.unknown],
        JSON.stringify(r),
      );
    }
    if (!('alertPolicy' in card))
      for (const r of results) assert.deepEqual([r.alert, r.unknown], [r.label !== 'benign', false]);
    const attacks = card.classes.filter((c) => c !== 'benign');
    const withPolicy = join(work, 'card-with-policy.json');
    writeFileSync(
      withPolicy,
      JSON.stringify({
        ...card,
        alertPolicy: {
          version: 1,
          benignClass: 'benign',
          thresholds: Object.fromEntries(attacks.map((c) => [c, 1.01])),
          unknown: { rule: 'topProbabilityBelow', minTopProbability: 0.5 },
        },
      }),
    );
    const strict = await startApp('forecast', {
      FLEETCAP_FORECAST_PORT: '0',
      FLEETCAP_MODEL_PATH: modelPath,
      FLEETCAP_MODEL_CARD_PATH: withPolicy,
    });
    try {
      const res = await fetch(`http://127.0.0.1:${strict.port}/v1/forecast`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sessions: Array.from({ length: 30 }, (_, i) => handBuilt(i)) }),
      });
      const strictResults = ((await res.json()) as { results: typeof results }).results;
      assert.deepEqual(
        strictResults.map((r) => [r.label, r.score, r.alert, r.unknown]),
        results.map((r) => [r.label, r.score, false, r.score < 0.5]),
        'the same labels and scores; thresholds above 1 never alert; under the floor is unknown',
      );
      const metrics = await (await fetch(`http://127.0.0.1:${strict.port}/metrics`)).text();
      assert.doesNotMatch(metrics, /fleetcap_forecast_alerts_total\{/);
      const unknown = strictResults.filter((r) => r.unknown).length;
      if (unknown > 0)
        assert.match(metrics, new RegExp(`fleetcap_forecast_unknown_total\\{app="forecast"\\} ${unknown}\n`));
    } finally {
      await strict.stop();
    }
    const text = await (await fetch(`${base}/metrics`)).text();
    if (results.some((r) => r.alert))
      assert.match(text, /fleetcap_forecast_alerts_total\{label="[a-z]+",app="forecast"\} [1-9]/);
  });

  test('refuses to start with an alertPolicy that does not fit the classes, in one line (exit 2)', async () => {
    const attacks = card.classes.filter((c) => c !== 'benign');
    const bad = join(work, 'card-bad-policy.json');
    writeFileSync(
      bad,
      JSON.stringify({
        ...card,
        alertPolicy: {
          version: 1,
          benignClass: 'benign',
          thresholds: Object.fromEntries(attacks.slice(1).map((c) => [c, 0.5])),
          unknown: { rule: 'topProbabilityBelow', minTopProbability: 0.2 },
        },
      }),
    );
    await assert.rejects(
      startApp('forecast', {
        FLEETCAP_FORECAST_PORT: '0',
        FLEETCAP_MODEL_PATH: modelPath,
        FLEETCAP_MODEL_CARD_PATH: bad,
      }),
      (err: Error) => {
        assert.match(err.message, /exited with 2 before it was ready/);
        assert.match(
          err.message,
          new RegExp(
            `forecast: refusing to start: model card .*card-bad-policy\\.json: alertPolicy\\.thresholds has no threshold for class ${attacks[0]}`,
          ),
        );
        return true;
      },
    );
  });

  test('stops cleanly on SIGTERM', async () => {
    const other = await startApp('forecast', { FLEETCAP_FORECAST_PORT: '0', FLEETCAP_MODEL_PATH: modelPath });
    const inFlight = fetch(`http://127.0.0.1:${other.port}/v1/forecast`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sessions: Array.from({ length: 200 }, (_, i) => handBuilt(i)) }),
    });
    await new Promise((r) => setTimeout(r, 5));
    const code = await other.stop();
    assert.equal(code, 0);
    const res = await inFlight.catch((err: Error) => err);
    if (!(res instanceof Error)) assert.equal(res.status, 200, 'a request that got in is answered');
  });
});
