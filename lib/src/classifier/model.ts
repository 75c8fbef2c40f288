// The classifier: an ONNX model plus the model card beside it, checked against the feature code before it
// serves a single request. Forecast and `fleetcap classify` both load it through here.
//
// The contract a model must meet (model/train.py writes such models):
//   - one float32 input (named as the card says, "features") of shape [N, FEATURE_COUNT];
//   - an output "probabilities", float32 [N, classes], in the order of the card's classes;
//   - a card whose feature version and names are exactly those of lib/src/features/features.ts (or, for an older
//     version the code only extended, the first of its names: the model is fed those columns), whose classes
//     include "benign", whose modelSha256 (when given) is the model file's, and whose alertPolicy (when given) has a
//     threshold for every attack class and none for another (lib/src/features/alert-policy.ts).
// Anything else is a ModelContractError at load time, never a wrong answer later.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { type AlertPolicy, AlertPolicyError, alertPolicyOf, decideAlert } from '../features/alert-policy.ts';
import {
  extractFeatureBatch,
  FEATURE_COUNT,
  FEATURE_NAMES,
  FEATURE_VERSION,
  type FeatureSession,
  OLDEST_PREFIX_FEATURE_VERSION,
} from '../features/features.ts';

export class ModelContractError extends Error {
  override name = 'ModelContractError';
}

export const BENIGN_CLASS = 'benign';
export const PROBABILITIES_OUTPUT = 'probabilities';

const cardSchema = z
  .object({
    modelVersion: z.string().min(1).max(64),
    placeholder: z.boolean().optional(),
    modelSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    classes: z.array(z.string().min(1).max(64)).min(2),
    onnx: z.object({ input: z.object({ name: z.string().min(1) }).passthrough() }).passthrough(),
    features: z.object({ version: z.number().int(), names: z.array(z.string()) }).passthrough(),
  })
  .passthrough();

export type ModelCard = z.infer<typeof cardSchema>;

/** model/model.onnx -> model/model-card.json */
export function defaultCardPath(modelPath: string): string {
  return join(dirname(modelPath), `${basename(modelPath).replace(/\.onnx$/, '')}-card.json`);
}

export interface Verdict {
  label: string;
  score: number;
  /** The card's alert policy on the rounded scores: whoever has the answer can decide it again the same way. */
  alert: boolean;
  unknown: boolean;
  scores: Record<string, number>;
}

export interface LoadOptions {
  modelPath: string;
  /** Default: defaultCardPath(modelPath). */
  cardPath?: string;
  /** ORT intra-op threads; default 1 (one core per process: scale with processes). */
  threads?: number;
}

function fail(message: string): never {
  throw new ModelContractError(message);
}

function readOrFail(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    return fail(`cannot read the ${what} ${path}: ${(err as Error).message}`);
  }
}

/** Checks the card against the feature code and the model bytes. */
export function checkCard(cardJson: unknown, cardPath: string, modelBytes?: Uint8Array): ModelCard {
  const parsed = cardSchema.safeParse(cardJson);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    fail(`model card ${cardPath}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const card = parsed.data;
  const version = card.features.version;
  // An older version whose vector this one only extended is served with its first columns (see
  // OLDEST_PREFIX_FEATURE_VERSION); any other version is refused.
  const prefix = version >= OLDEST_PREFIX_FEATURE_VERSION && version < FEATURE_VERSION;
  if (version !== FEATURE_VERSION && !prefix) {
    fail(
      `model card ${cardPath}: the model was trained with feature version ${version}, this code computes version ${FEATURE_VERSION}: retrain (bash model/train.sh --export)`,
    );
  }
  const names = card.features.names;
  const width = prefix ? names.length : FEATURE_COUNT;
  if (names.length !== width || width > FEATURE_COUNT || names.some((n, i) => n !== FEATURE_NAMES[i])) {
    const i = names.findIndex((n, k) => n !== FEATURE_NAMES[k]);
    const at = i >= 0 ? i : Math.min(names.length, FEATURE_COUNT);
    fail(
      `model card ${cardPath}: the model's ${names.length} features differ from the feature code's ${FEATURE_COUNT}: at index ${at} the card has ${JSON.stringify(names[at] ?? null)}, the code ${JSON.stringify(FEATURE_NAMES[at] ?? null)}`,
    );
  }
  if (new Set(card.classes).size !== card.classes.length)
    fail(`model card ${cardPath}: classes are not unique: ${card.classes.join(', ')}`);
  if (!card.classes.includes(BENIGN_CLASS)) {
    fail(`model card ${cardPath}: no "${BENIGN_CLASS}" class among ${card.classes.join(', ')}`);
  }
  if (modelBytes && card.modelSha256) {
    const sha = createHash('sha256').update(modelBytes).digest('hex');
    if (sha !== card.modelSha256) {
      fail(
        `model card ${cardPath} describes another model: its modelSha256 is ${card.modelSha256}, the model file's is ${sha}`,
      );
    }
  }
  return card;
}

/** The card's alert policy, checked against its classes (the argmax policy for a card without one). */
export function checkAlertPolicy(card: ModelCard, cardPath: string): AlertPolicy {
  try {
    return alertPolicyOf(card, `model card ${cardPath}`);
  } catch (err) {
    if (err instanceof AlertPolicyError) fail(err.message);
    throw err;
  }
}

function dims(meta: ort.InferenceSession.ValueMetadata): readonly (number | string)[] | null {
  return meta.isTensor ? meta.shape : null;
}

export class Classifier {
  readonly classes: readonly string[];
  readonly version: string;
  /** Features the model reads: FEATURE_COUNT, or the first of them for a model of an older prefix version. */
  readonly width: number;
  private readonly inputName: string;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly card: ModelCard,
    /** The card file as JSON, served by GET /v1/model. */
    readonly cardJson: unknown,
    /** Which verdicts are alerts (the card's alertPolicy, or the argmax policy of a card without one). */
    readonly alertPolicy: AlertPolicy,
  ) {
    this.classes = card.classes;
    this.version = card.modelVersion;
    this.width = card.features.names.length;
    this.inputName = card.onnx.input.name;
  }

  static async load(options: LoadOptions): Promise<Classifier> {
    const cardPath = options.cardPath ?? defaultCardPath(options.modelPath);
    const modelBytes = readOrFail(options.modelPath, 'model');
    let cardJson: unknown;
    try {
      cardJson = JSON.parse(readOrFail(cardPath, 'model card').toString('utf8'));
    } catch (err) {
      if (err instanceof ModelContractError) throw err;
      fail(`model card ${cardPath} is not JSON: ${(err as Error).message}`);
    }
    const card = checkCard(cardJson, cardPath, modelBytes);
    const alertPolicy = checkAlertPolicy(card, cardPath);
    const threads = options.threads ?? 1;
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(modelBytes, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
    } catch (err) {
      return fail(`model ${options.modelPath} is not a model onnxruntime can load: ${(err as Error).message}`);
    }
    const classifier = new Classifier(session, card, cardJson, alertPolicy);
    try {
      await classifier.checkGraph(options.modelPath);
    } catch (err) {
      await session.release();
      throw err;
    }
    return classifier;
  }

  private async checkGraph(modelPath: string): Promise<void> {
    const s = this.session;
    const where = `model ${modelPath}`;
    if (s.inputNames.length !== 1 || s.inputNames[0] !== this.inputName) {
      fail(
        `${where} has inputs [${s.inputNames.join(', ')}]; the card and the feature code expect one input "${this.inputName}"`,
      );
    }
    const input = s.inputMetadata[0]!;
    const shape = dims(input);
    if (!input.isTensor || input.type !== 'float32' || !shape || shape.length !== 2 || shape[1] !== this.width) {
      fail(
        `${where}: input "${this.inputName}" is ${input.isTensor ? `${input.type} [${shape?.join(', ')}]` : 'not a tensor'}; the feature code makes float32 [N, ${this.width}] (feature version ${this.card.features.version})`,
      );
    }
    const outIndex = s.outputNames.indexOf(PROBABILITIES_OUTPUT);
    if (outIndex < 0) {
      fail(
        `${where} has outputs [${s.outputNames.join(', ')}]; expected a "${PROBABILITIES_OUTPUT}" tensor (export with zipmap=False)`,
      );
    }
    const out = s.outputMetadata[outIndex]!;
    const outShape = dims(out);
    const c = this.classes.length;
    if (!out.isTensor || out.type !== 'float32' || (outShape && typeof outShape[1] === 'number' && outShape[1] !== c)) {
      fail(
        `${where}: output "${PROBABILITIES_OUTPUT}" is ${out.isTensor ? `${out.type} [${outShape?.join(', ')}]` : 'not a tensor'}; the card has ${c} classes (${this.classes.join(', ')})`,
      );
    }
    // Symbolic shapes say little: one real run must give one probability per class.
    let probe: Float32Array;
    try {
      probe = await this.probabilities(new Float32Array(FEATURE_COUNT), 1);
    } catch (err) {
      return fail(`${where} fails on a row of ${FEATURE_COUNT} features: ${(err as Error).message}`);
    }
    if (probe.length !== c) {
      fail(
        `${where} gives ${probe.length} probabilities per session; the card has ${c} classes (${this.classes.join(', ')})`,
      );
    }
  }

  /** One ORT run over n rows of FEATURE_COUNT features; returns n × classes probabilities, row-major. */
  async probabilities(features: Float32Array, n: number): Promise<Float32Array> {
    let input = features;
    if (this.width < FEATURE_COUNT) {
      input = new Float32Array(n * this.width);
      for (let i = 0; i < n; i++)
        input.set(features.subarray(i * FEATURE_COUNT, i * FEATURE_COUNT + this.width), i * this.width);
    }
    const tensor = new ort.Tensor('float32', input, [n, this.width]);
    const result = await this.session.run({ [this.inputName]: tensor }, [PROBABILITIES_OUTPUT]);
    const p = result[PROBABILITIES_OUTPUT];
    if (!p || !(p.data instanceof Float32Array))
      throw new Error(`the model returned no float32 "${PROBABILITIES_OUTPUT}"`);
    return p.data;
  }

  /** Verdicts from n rows of features, one ORT run. */
  async classifyFeatures(features: Float32Array, n: number): Promise<Verdict[]> {
    if (n === 0) return [];
    const p = await this.probabilities(features, n);
    const c = this.classes.length;
    const verdicts: Verdict[] = new Array(n);
    const rounded = new Float64Array(c);
    for (let i = 0; i < n; i++) {
      const scores: Record<string, number> = {};
      for (let k = 0; k < c; k++) {
        rounded[k] = Math.round(p[i * c + k]! * 1e6) / 1e6;
        scores[this.classes[k]!] = rounded[k]!;
      }
      // On the rounded scores, so that label, score and alert agree with the scores a client receives.
      const { label, score, alert, unknown } = decideAlert(rounded, this.classes, this.alertPolicy);
      verdicts[i] = { label, score, alert, unknown, scores };
    }
    return verdicts;
  }

  /** Features and verdicts of a batch of sessions, with one ORT run. */
  async classify(sessions: readonly FeatureSession[]): Promise<Verdict[]> {
    return this.classifyFeatures(extractFeatureBatch(sessions), sessions.length);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
