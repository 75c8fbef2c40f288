// The committed model (model/model.onnx + model-card.json) against the feature code, and the refusals.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { alertPolicyOf, decideAlert } from '../features/alert-policy.ts';
import {
  FEATURE_NAMES,
  FEATURE_VERSION,
  type FeatureSession,
  OLDEST_PREFIX_FEATURE_VERSION,
} from '../features/features.ts';
import { Classifier, defaultCardPath, ModelContractError } from './model.ts';

const root = new URL('../../../', import.meta.url).pathname;
const modelPath = join(root, 'model/model.onnx');
const cardPath = join(root, 'model/model-card.json');
const wrongInput = join(root, 'model/fixtures/wrong-input.onnx');
const card = JSON.parse(readFileSync(cardPath, 'utf8')) as Record<string, unknown>;
/** The features the committed model reads: FEATURE_COUNT, or fewer for a model of an older prefix version. */
const cardWidth = (card.features as { names: string[] }).names.length;
const dir = mkdtempSync(join(tmpdir(), 'forecast-model-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function cardWith(patch: Record<string, unknown>): string {
  const path = join(dir, `card-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify({ ...card, ...patch }));
  return path;
}

async function refusal(options: Parameters<typeof Classifier.load>[0]): Promise<string> {
  try {
    const c = await Classifier.load(options);
    await c.release();
  } catch (err) {
    assert.ok(err instanceof ModelContractError, `expected a ModelContractError, got ${err}`);
    return err.message;
  }
  assert.fail('the model was accepted');
}

const synAckRst: FeatureSession = {
  proto: 'tcp',
  clientPort: 40000,
  serverPort: 22,
  packets: [
    { direction: 0, tsUs: 0, wireLength: 54, payloadLength: 0, tcpFlags: 0x02 },
    { direction: 1, tsUs: 30, wireLength: 58, payloadLength: 0, tcpFlags: 0x12 },
    { direction: 0, tsUs: 60, wireLength: 54, payloadLength: 0, tcpFlags: 0x04 },
  ],
};

describe('classifier', () => {
  it('finds the card beside the model', () => {
    assert.equal(defaultCardPath('model/model.onnx'), 'model/model-card.json');
  });

  it('loads the committed model, which matches the feature code', async () => {
    const c = await Classifier.load({ modelPath });
    try {
      assert.ok(c.classes.includes('benign'));
      assert.ok(c.classes.length >= 2);
      assert.equal(c.version, card.modelVersion);
      const names = (card.features as { names: string[] }).names;
      assert.deepEqual(names, FEATURE_NAMES.slice(0, names.length), 'the code computes every feature the model reads');
      const verdicts = await c.classify([synAckRst, { ...synAckRst, proto: 'udp', serverPort: 53 }]);
      assert.equal(verdicts.length, 2);
      for (const v of verdicts) {
        assert.ok(c.classes.includes(v.label));
        assert.deepEqual(Object.keys(v.scores), c.classes);
        const sum = Object.values(v.scores).reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(sum - 1) < 1e-3, `probabilities sum to ${sum}`);
        assert.equal(v.score, Math.max(...Object.values(v.scores)));
        assert.equal(v.scores[v.label], v.score);
      }
      assert.deepEqual(await c.classify([]), []);
    } finally {
      await c.release();
    }
  });

  it('refuses a model whose input is not the feature vector', async () => {
    const message = await refusal({ modelPath: wrongInput, cardPath: cardWith({ modelSha256: undefined }) });
    assert.match(
      message,
      new RegExp(`input "features" is float32 \\[.*, 5\\]; the feature code makes float32 \\[N, ${cardWidth}\\]`),
    );
  });

  it('refuses a card that does not describe the model', async () => {
    assert.match(await refusal({ modelPath: wrongInput, cardPath }), /describes another model: its modelSha256 is/);
    const classes = card.classes as string[];
    assert.match(
      await refusal({
        modelPath,
        cardPath: cardWith({ modelSha256: undefined, alertPolicy: undefined, classes: [...classes, 'extra'] }),
      }),
      new RegExp(`the card has ${classes.length + 1} classes`),
    );
    assert.match(
      await refusal({
        modelPath,
        cardPath: cardWith({ classes: classes.map((k) => (k === 'benign' ? 'normal' : k)) }),
      }),
      /no "benign" class/,
    );
  });

  it('refuses a model trained on other features', async () => {
    const features = card.features as Record<string, unknown>;
    assert.match(
      await refusal({ modelPath, cardPath: cardWith({ features: { ...features, version: FEATURE_VERSION + 1 } }) }),
      new RegExp(`trained with feature version ${FEATURE_VERSION + 1}, this code computes version ${FEATURE_VERSION}`),
    );
    const names = [...FEATURE_NAMES] as string[];
    names[3] = 'raw_server_port';
    assert.match(
      await refusal({ modelPath, cardPath: cardWith({ features: { ...features, names } }) }),
      /at index 3 the card has "raw_server_port", the code "server_port_registered"/,
    );
  });

  it('refuses a card whose alertPolicy does not fit its classes, naming the field', async () => {
    const classes = card.classes as string[];
    const attacks = classes.filter((c) => c !== 'benign');
    const policy = {
      version: 1,
      benignClass: 'benign',
      thresholds: Object.fromEntries(attacks.map((c) => [c, 0.5])),
      unknown: { rule: 'topProbabilityBelow', minTopProbability: 0.3 },
    };
    const withPolicy = (p: unknown) => ({ modelPath, cardPath: cardWith({ alertPolicy: p }) });
    const { [attacks[0]!]: _dropped, ...missing } = policy.thresholds;
    assert.match(
      await refusal(withPolicy({ ...policy, thresholds: missing })),
      new RegExp(`model card .*: alertPolicy\\.thresholds has no threshold for class ${attacks[0]}$`),
    );
    assert.match(
      await refusal(withPolicy({ ...policy, thresholds: { ...policy.thresholds, worm: 0.5 } })),
      /alertPolicy\.thresholds\.worm is not an attack class of the model/,
    );
    assert.match(
      await refusal(withPolicy({ ...policy, thresholds: { ...policy.thresholds, benign: 0.5 } })),
      /alertPolicy\.thresholds\.benign is not an attack class of the model/,
    );
    assert.match(
      await refusal(withPolicy({ ...policy, unknown: { rule: 'topProbabilityBelow', minTopProbability: 2 } })),
      /alertPolicy\.unknown\.minTopProbability: Number must be less than or equal to 1/,
    );
    assert.match(
      await refusal(withPolicy({ ...policy, thresholds: { ...policy.thresholds, [attacks[0]!]: -0.1 } })),
      new RegExp(`alertPolicy\\.thresholds\\.${attacks[0]}: Number must be greater than or equal to 0`),
    );
    assert.match(await refusal(withPolicy({ ...policy, version: 2 })), /alertPolicy\.version: Invalid literal value/);
    assert.match(
      await refusal(withPolicy({ ...policy, benignClass: 'normal' })),
      /alertPolicy\.benignClass normal is not one of the classes/,
    );
  });

  it('serves the alert policy: label and score as before, alert and unknown from the thresholds', async () => {
    const classes = card.classes as string[];
    const attacks = classes.filter((c) => c !== 'benign');
    const sessions = [synAckRst, { ...synAckRst, proto: 'udp' as const, serverPort: 53 }];
    const argmax = await Classifier.load({ modelPath });
    const never = await Classifier.load({
      modelPath,
      cardPath: cardWith({
        alertPolicy: {
          version: 1,
          benignClass: 'benign',
          thresholds: Object.fromEntries(attacks.map((c) => [c, 1.01])),
          unknown: { rule: 'topProbabilityBelow', minTopProbability: 0 },
        },
      }),
    });
    const allUnknown = await Classifier.load({
      modelPath,
      cardPath: cardWith({
        alertPolicy: {
          version: 1,
          benignClass: 'benign',
          thresholds: Object.fromEntries(attacks.map((c) => [c, 0])),
          unknown: { rule: 'topProbabilityBelow', minTopProbability: 1 },
        },
      }),
    });
    try {
      const a = await argmax.classify(sessions);
      const committed = alertPolicyOf(card as { classes: string[] }, 'card');
      for (const v of a) {
        const d = decideAlert(
          classes.map((c) => v.scores[c]!),
          classes,
          committed,
        );
        assert.deepEqual([v.label, v.score, v.alert, v.unknown], [d.label, d.score, d.alert, d.unknown]);
        // Without a policy (the card before alert policies) every attack label alerts and nothing is unknown.
        if (card.alertPolicy === undefined) assert.deepEqual([v.alert, v.unknown], [v.label !== 'benign', false]);
      }
      const n = await never.classify(sessions);
      assert.deepEqual(
        n.map((v) => [v.label, v.score, v.alert]),
        a.map((v) => [v.label, v.score, false]),
      );
      const u = await allUnknown.classify(sessions);
      for (const v of u) assert.deepEqual([v.alert, v.unknown], [false, v.score < 1]);
    } finally {
      await Promise.all([argmax.release(), never.release(), allUnknown.release()]);
    }
  });

  it('serves a model of an older feature version that this one only extended, with its first columns', async () => {
    const features = card.features as { version: number; names: string[] };
    if (features.version === FEATURE_VERSION) {
      const older = await refusal({
        modelPath,
        cardPath: cardWith({ features: { ...features, version: OLDEST_PREFIX_FEATURE_VERSION - 1 } }),
      });
      assert.match(older, /retrain/);
      return;
    }
    assert.ok(features.version >= OLDEST_PREFIX_FEATURE_VERSION && features.version < FEATURE_VERSION);
    assert.deepEqual(features.names, FEATURE_NAMES.slice(0, features.names.length));
    const c = await Classifier.load({ modelPath });
    try {
      assert.equal(c.width, features.names.length);
      const [v] = await c.classify([synAckRst]);
      assert.ok(c.classes.includes(v!.label));
    } finally {
      await c.release();
    }
    assert.match(
      await refusal({ modelPath, cardPath: cardWith({ features: { ...features, version: 1 } }) }),
      new RegExp(`trained with feature version 1, this code computes version ${FEATURE_VERSION}`),
    );
  });

  it('serves the rules fixture of feature version 2 with its first columns, as the alert tests do', async () => {
    // The alert tests' own model (model/make_fixtures.py) is of the oldest prefix version: it keeps that path
    // tested whatever version the committed model is.
    const rules = join(root, 'model/fixtures/alert-rules.onnx');
    const rulesCard = JSON.parse(readFileSync(join(root, 'model/fixtures/alert-rules-card.json'), 'utf8')) as {
      features: { version: number; names: string[] };
    };
    assert.equal(rulesCard.features.version, OLDEST_PREFIX_FEATURE_VERSION);
    assert.ok(rulesCard.features.names.length < FEATURE_NAMES.length);
    const c = await Classifier.load({ modelPath: rules, cardPath: join(root, 'model/fixtures/alert-rules-card.json') });
    try {
      assert.equal(c.width, rulesCard.features.names.length);
      // A SYN answered by a SYN+ACK and reset by the client: no server RST, a handshake, nothing said: the silent
      // connection's leaf (slowloris at 0.28).
      const [v] = await c.classify([synAckRst]);
      assert.deepEqual([v!.label, v!.score], ['slowloris', 0.28]);
    } finally {
      await c.release();
    }
  });

  it('says which file is missing or broken', async () => {
    assert.match(await refusal({ modelPath: join(dir, 'none.onnx') }), /cannot read the model .*none\.onnx/);
    assert.match(await refusal({ modelPath, cardPath: join(dir, 'none.json') }), /cannot read the model card/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{');
    assert.match(await refusal({ modelPath, cardPath: bad }), /is not JSON/);
    const garbage = join(dir, 'garbage.onnx');
    writeFileSync(garbage, 'not a model');
    assert.match(
      await refusal({ modelPath: garbage, cardPath: cardWith({ modelSha256: undefined }) }),
      /not a model onnxruntime can load/,
    );
  });
});
