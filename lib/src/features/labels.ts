// The traffic lab's labels (lab/run.sh writes labels.json beside each capture): an ordered list of rules, the
// first whose endpoints match a session gives its class. A rule with endpoints [A, B] matches when one address
// of the session is in A and the other in B; "any" matches every session. The class EXCLUDE_CLASS means: not part
// of the dataset (e.g. a leftover of an earlier run).
import { z } from 'zod';

export const EXCLUDE_CLASS = 'exclude';

const ruleSchema = z.object({
  endpoints: z.union([z.literal('any'), z.tuple([z.array(z.string()), z.array(z.string())])]),
  class: z.string().min(1),
  why: z.string().optional(),
});

export const runLabelsSchema = z.object({
  scenario: z.string().min(1),
  class: z.string().min(1),
  seed: z.number().int(),
  rules: z.array(ruleSchema).min(1),
  /** When the run's traffic started and ended (epoch seconds); its capture spans a little more. */
  start_epoch: z.number().optional(),
  end_epoch: z.number().optional(),
});

export type RunLabels = z.infer<typeof runLabelsSchema>;
export type LabelRule = z.infer<typeof ruleSchema>;

export function parseRunLabels(json: unknown, where: string): RunLabels {
  const parsed = runLabelsSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${where}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

/** Compiled rules: the class of a session from its two addresses, or null when no rule matches. */
export class SessionLabeler {
  private readonly rules: Array<
    { any: true; cls: string } | { any: false; a: Set<string>; b: Set<string>; cls: string }
  >;

  constructor(labels: RunLabels) {
    this.rules = labels.rules.map((r) =>
      r.endpoints === 'any'
        ? { any: true as const, cls: r.class }
        : { any: false as const, a: new Set(r.endpoints[0]), b: new Set(r.endpoints[1]), cls: r.class },
    );
  }

  labelOf(addressX: string, addressY: string): string | null {
    for (const r of this.rules) {
      if (r.any) return r.cls;
      if ((r.a.has(addressX) && r.b.has(addressY)) || (r.a.has(addressY) && r.b.has(addressX))) return r.cls;
    }
    return null;
  }
}
