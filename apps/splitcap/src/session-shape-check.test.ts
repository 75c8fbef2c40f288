import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { FEATURE_WINDOW_US, SESSION_DELAY_MS, SESSION_MAX_PACKETS } from '@fleetcap/lib/features/features';
import { loadSplitcapConfig } from './config.ts';
import { checkSessionShape, sessionShapeWarnings, trainedShapeOf } from './session-shape-check.ts';

const committedCard = new URL('../../../model/model-card.json', import.meta.url).pathname;
const trained = { modelVersion: 'fc-test-1', maxPackets: 24, windowUs: 5_000_000 };
const dir = mkdtempSync(join(tmpdir(), 'splitcap-shape-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test("splitcap's defaults are the feature code's session shape, and the committed model card's", () => {
  const config = loadSplitcapConfig({
    FLEETCAP_SPLITCAP_TOKENS: 'a=12345678',
    FLEETCAP_SPLITCAP_PLAINTEXT: 'loopback',
  });
  assert.equal(config.FLEETCAP_SESSION_MAX_PACKETS, SESSION_MAX_PACKETS);
  assert.equal(config.FLEETCAP_SESSION_DELAY_MS, SESSION_DELAY_MS);
  assert.equal(SESSION_DELAY_MS * 1000, FEATURE_WINDOW_US, 'the delay is the feature window');
  assert.equal(config.FLEETCAP_MODEL_CARD_PATH, 'model/model-card.json');
  const shape = { maxPackets: config.FLEETCAP_SESSION_MAX_PACKETS, delayMs: config.FLEETCAP_SESSION_DELAY_MS };
  assert.deepEqual(checkSessionShape(shape, committedCard), []);
});

describe('a session shape other than the training one is a warning that says what it does', () => {
  test('the same shape: nothing to say', () => {
    assert.deepEqual(sessionShapeWarnings({ maxPackets: 24, delayMs: 5000 }, trained), []);
  });

  test('fewer packets than in training: features differ, verdicts may be off', () => {
    const [w, ...rest] = sessionShapeWarnings({ maxPackets: 12, delayMs: 5000 }, trained);
    assert.deepEqual(rest, []);
    assert.equal(w!.setting, 'FLEETCAP_SESSION_MAX_PACKETS');
    assert.equal(
      w!.message,
      'sessions are cut at 12 packets (FLEETCAP_SESSION_MAX_PACKETS) but model fc-test-1 was trained on their first 24: sessions longer than 12 packets are classified from fewer packets than in training, so their features differ from training and their verdicts may be off',
    );
  });

  test('more packets than in training: same features, later verdicts, more memory', () => {
    const [w] = sessionShapeWarnings({ maxPackets: 48, delayMs: 5000 }, trained);
    assert.equal(w!.setting, 'FLEETCAP_SESSION_MAX_PACKETS');
    assert.match(
      w!.message,
      /^sessions are kept up to 48 packets \(FLEETCAP_SESSION_MAX_PACKETS\) but model fc-test-1/,
    );
    assert.match(w!.message, /reads only their first 24: the features are unchanged/);
    assert.match(w!.message, /classified only when it holds 48 or at the delay \(not at 24\)/);
  });

  test('a shorter delay than the feature window: fewer packets for slow sessions', () => {
    const [w, ...rest] = sessionShapeWarnings({ maxPackets: 24, delayMs: 3000 }, trained);
    assert.deepEqual(rest, []);
    assert.equal(w!.setting, 'FLEETCAP_SESSION_DELAY_MS');
    assert.match(w!.message, /^sessions are classified 3000 ms after their first packet \(FLEETCAP_SESSION_DELAY_MS\)/);
    assert.match(w!.message, /trained on their first 5000 ms: a session that has fewer than 24 packets by then/);
    assert.match(w!.message, /slowloris/);
  });

  test('a longer delay: same features, verdicts later than they could be', () => {
    const [w] = sessionShapeWarnings({ maxPackets: 24, delayMs: 8000 }, trained);
    assert.equal(w!.setting, 'FLEETCAP_SESSION_DELAY_MS');
    assert.match(
      w!.message,
      /reads only their first 5000 ms: the features are unchanged, .* 3000 ms later than it could$/,
    );
  });

  test('both settings off: one warning each', () => {
    const warnings = sessionShapeWarnings({ maxPackets: 10, delayMs: 1000 }, trained);
    assert.deepEqual(
      warnings.map((w) => w.setting),
      ['FLEETCAP_SESSION_MAX_PACKETS', 'FLEETCAP_SESSION_DELAY_MS'],
    );
  });
});

describe('the model card', () => {
  test('gives the shape in features.maxPackets and features.windowUs', () => {
    assert.deepEqual(
      trainedShapeOf({ modelVersion: 'm1', features: { version: 2, maxPackets: 32, windowUs: 2_000_000 } }),
      { modelVersion: 'm1', maxPackets: 32, windowUs: 2_000_000 },
    );
    assert.throws(() => trainedShapeOf({ features: { version: 2 } }), /no features\.maxPackets and features\.windowUs/);
    assert.throws(() => trainedShapeOf(null), /no features\.maxPackets/);
    assert.throws(() => trainedShapeOf({ features: { maxPackets: '24', windowUs: 5e6 } }), /positive integers/);
  });

  test('is read from the path given; one that cannot be read is a warning naming it and why', () => {
    const card = join(dir, 'card.json');
    writeFileSync(card, JSON.stringify({ modelVersion: 'm2', features: { maxPackets: 24, windowUs: 5_000_000 } }));
    assert.deepEqual(checkSessionShape({ maxPackets: 24, delayMs: 5000 }, card), []);
    assert.match(checkSessionShape({ maxPackets: 12, delayMs: 5000 }, card)[0]!.message, /model m2 was trained/);

    const [missing] = checkSessionShape({ maxPackets: 24, delayMs: 5000 }, join(dir, 'nope.json'));
    assert.equal(missing!.setting, 'FLEETCAP_MODEL_CARD_PATH');
    assert.match(
      missing!.message,
      /^cannot check the session shape against the model card .*nope\.json \(FLEETCAP_MODEL_CARD_PATH\): ENOENT.*; sessions are kept up to 24 packets and classified at most 5000 ms after their first packet/,
    );
    writeFileSync(card, '{ not json');
    assert.match(checkSessionShape({ maxPackets: 24, delayMs: 5000 }, card)[0]!.message, /card\.json .*JSON/);
  });
});
