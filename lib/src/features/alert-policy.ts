// Alerts, not argmax: whether a verdict is an alert, decided by the per-class thresholds and the "unknown" rule that
// training chose on validation data for a stated false-alarm rate (model/alert_policy.py; the card's alertPolicy).
//
//   label   = the most probable class, score = its probability (what forecast has always returned);
//   unknown = score < unknown.minTopProbability: no class stands out, the session is unlike what the model knows;
//   alert   = !unknown && label !== benignClass && score >= thresholds[label].
//
// An unknown session is never an alert. A card without an alertPolicy (models from before it) gets ARGMAX_POLICY:
// every non-benign label is an alert, as every consumer read the verdicts until then.
import { z } from 'zod';

export const alertPolicySchema = z.object({
  version: z.literal(1),
  benignClass: z.string().min(1),
  /** Per attack class: the lowest probability of the most probable class that alerts (above 1: never). */
  thresholds: z.record(z.string().min(1), z.number().min(0)),
  unknown: z
    .object({
      rule: z.literal('topProbabilityBelow'),
      minTopProbability: z.number().min(0).max(1),
    })
    .passthrough(),
  falseAlarmTarget: z.number().min(0).max(1).optional(),
});

export type AlertPolicy = z.infer<typeof alertPolicySchema>;

export interface AlertDecision {
  label: string;
  score: number;
  alert: boolean;
  unknown: boolean;
}

/** The policy of a card without one: the argmax, every attack label an alert, nothing unknown. */
export function argmaxPolicy(classes: readonly string[], benignClass = 'benign'): AlertPolicy {
  return {
    version: 1,
    benignClass,
    thresholds: Object.fromEntries(classes.filter((c) => c !== benignClass).map((c) => [c, 0])),
    unknown: { rule: 'topProbabilityBelow', minTopProbability: 0 },
  };
}

export class AlertPolicyError extends Error {
  override name = 'AlertPolicyError';
}

/**
 * The card's alertPolicy checked against its classes: every attack class has a threshold, no threshold names a
 * class the model does not have, the benign class is one of them. Without an alertPolicy: argmaxPolicy.
 */
export function alertPolicyOf(card: { classes: readonly string[]; alertPolicy?: unknown }, where: string): AlertPolicy {
  if (card.alertPolicy === undefined) return argmaxPolicy(card.classes);
  const parsed = alertPolicySchema.safeParse(card.alertPolicy);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new AlertPolicyError(`${where}: alertPolicy.${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const policy = parsed.data;
  if (!card.classes.includes(policy.benignClass))
    throw new AlertPolicyError(`${where}: alertPolicy.benignClass ${policy.benignClass} is not one of the classes`);
  for (const c of card.classes)
    if (c !== policy.benignClass && policy.thresholds[c] === undefined)
      throw new AlertPolicyError(`${where}: alertPolicy.thresholds has no threshold for class ${c}`);
  for (const c of Object.keys(policy.thresholds))
    if (!card.classes.includes(c) || c === policy.benignClass)
      throw new AlertPolicyError(`${where}: alertPolicy.thresholds.${c} is not an attack class of the model`);
  return policy;
}

/** The decision for one session from its class probabilities (in the order of classes). */
export function decideAlert(
  probabilities: ArrayLike<number>,
  classes: readonly string[],
  policy: AlertPolicy,
): AlertDecision {
  if (probabilities.length !== classes.length || classes.length === 0)
    throw new AlertPolicyError(`${probabilities.length} probabilities for ${classes.length} classes`);
  let best = 0;
  for (let k = 1; k < classes.length; k++) if (probabilities[k]! > probabilities[best]!) best = k;
  const label = classes[best]!;
  const score = probabilities[best]!;
  const unknown = score < policy.unknown.minTopProbability;
  const threshold = policy.thresholds[label];
  const alert = !unknown && label !== policy.benignClass && threshold !== undefined && score >= threshold;
  return { label, score, alert, unknown };
}
