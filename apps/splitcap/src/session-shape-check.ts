// splitcap decides the shape of every session a model sees: how many packets are kept (FLEETCAP_SESSION_MAX_PACKETS)
// and how long after its first packet a session is classified at the latest (FLEETCAP_SESSION_DELAY_MS). A model
// was trained on one shape, which its card records (features.maxPackets, features.windowUs). At startup splitcap
// compares its settings with the card and warns, saying what the difference does to the verdicts: a pipeline that
// runs with another shape than the training's classifies sessions the model never saw the like of, silently.
import { readFileSync } from 'node:fs';

export interface SessionShape {
  maxPackets: number;
  delayMs: number;
}

/** The session shape of a model's training, from its card. */
export interface TrainedShape {
  modelVersion: string;
  maxPackets: number;
  windowUs: number;
}

export interface ShapeWarning {
  /** The setting that differs, or the card when it cannot be read. */
  setting: 'FLEETCAP_SESSION_MAX_PACKETS' | 'FLEETCAP_SESSION_DELAY_MS' | 'FLEETCAP_MODEL_CARD_PATH';
  message: string;
}

const positiveInteger = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;

/** The training's session shape from a parsed model card; throws an Error saying what the card lacks. */
export function trainedShapeOf(card: unknown): TrainedShape {
  const c = card as { modelVersion?: unknown; features?: { maxPackets?: unknown; windowUs?: unknown } } | null;
  const features = typeof c === 'object' && c !== null ? c.features : undefined;
  if (!positiveInteger(features?.maxPackets) || !positiveInteger(features?.windowUs)) {
    throw new Error('it has no features.maxPackets and features.windowUs (positive integers)');
  }
  const modelVersion = typeof c?.modelVersion === 'string' && c.modelVersion !== '' ? c.modelVersion : '(unnamed)';
  return { modelVersion, maxPackets: features.maxPackets, windowUs: features.windowUs };
}

/** What splitcap's session shape does to the verdicts of a model trained on `trained`; empty when they agree. */
export function sessionShapeWarnings(shape: SessionShape, trained: TrainedShape): ShapeWarning[] {
  const warnings: ShapeWarning[] = [];
  const model = `model ${trained.modelVersion}`;
  const max = shape.maxPackets;
  const trainedMax = trained.maxPackets;
  const windowMs = trained.windowUs / 1000;
  if (max < trainedMax) {
    warnings.push({
      setting: 'FLEETCAP_SESSION_MAX_PACKETS',
      message: `sessions are cut at ${max} packets (FLEETCAP_SESSION_MAX_PACKETS) but ${model} was trained on their first ${trainedMax}: sessions longer than ${max} packets are classified from fewer packets than in training, so their features differ from training and their verdicts may be off`,
    });
  } else if (max > trainedMax) {
    warnings.push({
      setting: 'FLEETCAP_SESSION_MAX_PACKETS',
      message: `sessions are kept up to ${max} packets (FLEETCAP_SESSION_MAX_PACKETS) but ${model} reads only their first ${trainedMax}: the features are unchanged, but a session of ${trainedMax} packets or more is classified only when it holds ${max} or at the delay (not at ${trainedMax}), and Redis holds more packets per session`,
    });
  }
  if (shape.delayMs < windowMs) {
    warnings.push({
      setting: 'FLEETCAP_SESSION_DELAY_MS',
      message: `sessions are classified ${shape.delayMs} ms after their first packet (FLEETCAP_SESSION_DELAY_MS) but ${model} was trained on their first ${windowMs} ms: a session that has fewer than ${max} packets by then is classified from fewer packets than in training (slow sessions such as slowloris most), so its verdict may be off`,
    });
  } else if (shape.delayMs > windowMs) {
    warnings.push({
      setting: 'FLEETCAP_SESSION_DELAY_MS',
      message: `sessions are classified ${shape.delayMs} ms after their first packet (FLEETCAP_SESSION_DELAY_MS) but ${model} reads only their first ${windowMs} ms: the features are unchanged, but a session that does not fill up gets its verdict ${shape.delayMs - windowMs} ms later than it could`,
    });
  }
  return warnings;
}

/** Reads the card at cardPath and compares; a card that cannot be read is itself a warning (nothing is checked). */
export function checkSessionShape(shape: SessionShape, cardPath: string): ShapeWarning[] {
  let trained: TrainedShape;
  try {
    trained = trainedShapeOf(JSON.parse(readFileSync(cardPath, 'utf8')));
  } catch (err) {
    return [
      {
        setting: 'FLEETCAP_MODEL_CARD_PATH',
        message: `cannot check the session shape against the model card ${cardPath} (FLEETCAP_MODEL_CARD_PATH): ${(err as Error).message}; sessions are kept up to ${shape.maxPackets} packets and classified at most ${shape.delayMs} ms after their first packet, which may not be what the model was trained on`,
      },
    ];
  }
  return sessionShapeWarnings(shape, trained);
}
