// The verdicts of a lab-driven run against the lab's own labels: each verdict row is matched to the lab run
// whose time window holds its first packet, and that run's label rule (lib/src/features/labels.ts) gives the
// session's true class. Pure: the rows come from MariaDB, the labels from each run's labels.json.
import { EXCLUDE_CLASS, type RunLabels, SessionLabeler } from '@fleetcap/lib/features/labels';

export const BENIGN_CLASS = 'benign';

/** The capture starts before the traffic and stops a second after it (lab/run.sh); a late packet may trail. */
const WINDOW_BEFORE_S = 1;
const WINDOW_AFTER_S = 3;

export interface ScoredVerdict {
  client_addr: string;
  server_addr: string;
  first_packet_at: Date;
  label: string;
  /** The row's alert (the model card's alert policy); without it, the argmax rule: every attack label. */
  alert?: number | boolean;
}

export interface ClassScore {
  scenario: string;
  seed: number;
  trueClass: string;
  sessions: number;
  /** Labelled with exactly the true class. */
  asTrueClass: number;
  /** Labelled with some attack class (anything but benign). */
  asAttack: number;
  /** Alerts (what an analyst is shown): the alert policy's thresholds on the label and score. */
  alerted: number;
  predicted: Map<string, number>;
}

export interface LabScore {
  classes: ClassScore[];
  /** Rows in a run's window that its rules leave out (leftovers of an earlier run). */
  excluded: number;
  /** Rows in no run's window. */
  outside: number;
}

interface Window {
  labels: RunLabels;
  labeler: SessionLabeler;
  from: number;
  to: number;
}

export function scoreLabRuns(runs: RunLabels[], verdicts: ScoredVerdict[]): LabScore {
  const windows: Window[] = runs.map((labels) => {
    if (labels.start_epoch === undefined || labels.end_epoch === undefined) {
      throw new Error(`lab run ${labels.scenario}-${labels.seed}: labels.json has no start_epoch/end_epoch`);
    }
    return {
      labels,
      labeler: new SessionLabeler(labels),
      from: (labels.start_epoch - WINDOW_BEFORE_S) * 1000,
      to: (labels.end_epoch + WINDOW_AFTER_S) * 1000,
    };
  });
  const byKey = new Map<string, ClassScore>();
  let excluded = 0;
  let outside = 0;
  for (const v of verdicts) {
    const t = v.first_packet_at.getTime();
    // Consecutive runs' padded windows overlap: the run whose rules know the session's endpoints decides,
    // the run whose traffic time holds the packet first.
    const candidates = windows
      .filter((x) => t >= x.from && t <= x.to)
      .map((x) => ({
        w: x,
        truth: x.labeler.labelOf(v.client_addr, v.server_addr),
        core: t >= x.from + WINDOW_BEFORE_S * 1000 && t <= x.to - WINDOW_AFTER_S * 1000,
      }));
    if (candidates.length === 0) {
      outside++;
      continue;
    }
    const known = candidates.filter((c) => c.truth !== null && c.truth !== EXCLUDE_CLASS);
    const chosen = known.find((c) => c.core) ?? known[0];
    if (!chosen) {
      excluded++;
      continue;
    }
    const { w } = chosen;
    const truth = chosen.truth!;
    const key = `${w.labels.scenario}\0${w.labels.seed}\0${truth}`;
    let s = byKey.get(key);
    if (!s) {
      s = {
        scenario: w.labels.scenario,
        seed: w.labels.seed,
        trueClass: truth,
        sessions: 0,
        asTrueClass: 0,
        asAttack: 0,
        alerted: 0,
        predicted: new Map(),
      };
      byKey.set(key, s);
    }
    s.sessions++;
    if (v.label === truth) s.asTrueClass++;
    if (v.label !== BENIGN_CLASS) s.asAttack++;
    if (v.alert === undefined ? v.label !== BENIGN_CLASS : Boolean(v.alert)) s.alerted++;
    s.predicted.set(v.label, (s.predicted.get(v.label) ?? 0) + 1);
  }
  const order = new Map(runs.map((r, i) => [`${r.scenario}\0${r.seed}`, i]));
  const classes = [...byKey.values()].sort(
    (a, b) =>
      (order.get(`${a.scenario}\0${a.seed}`) ?? 0) - (order.get(`${b.scenario}\0${b.seed}`) ?? 0) ||
      Number(a.trueClass === BENIGN_CLASS) - Number(b.trueClass === BENIGN_CLASS) ||
      a.trueClass.localeCompare(b.trueClass),
  );
  return { classes, excluded, outside };
}

function share(n: number, of: number): string {
  return of === 0 ? '-' : `${n} (${((100 * n) / of).toFixed(1)}%)`;
}

/** One table row per (run, true class): how the pipeline labelled the run's sessions of that class. */
export function labScoreRows(score: LabScore): Array<Record<string, string | number>> {
  return score.classes.map((c) => ({
    run: `${c.scenario}-${c.seed}`,
    'true class': c.trueClass,
    sessions: c.sessions,
    'labelled so': share(c.asTrueClass, c.sessions),
    'as an attack': share(c.asAttack, c.sessions),
    alerted: share(c.alerted, c.sessions),
    predicted: [...c.predicted.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([label, n]) => `${label} ${n}`)
      .join(', '),
  }));
}
