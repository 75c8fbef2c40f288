// One incident as the detectors report it and the detection table stores it: one per incident, updated while it
// grows. Lists are capped (evidenceCap); the distinct counts go on past the cap.

import type { DetectorName } from './config.ts';

export interface Detection {
  /** `detector|subject|first µs`: the same whichever replica (or the offline command) opened it. */
  id: string;
  detector: DetectorName;
  subject: string;
  source: string | null;
  target: string;
  windowSeconds: number;
  threshold: number;
  /** Members in the window at the last update, and the most there were. */
  windowCount: number;
  peakCount: number;
  /** Sessions that took part while it was open (those that opened it included). */
  sessions: number;
  targets: string[];
  distinctTargets: number;
  sources: string[];
  distinctSources: number;
  agents: string[];
  /** Community IDs of the sessions, the first evidenceCap. */
  evidence: string[];
  firstSeenUs: number;
  lastSeenUs: number;
  /** beaconing: the period in seconds. */
  periodSeconds: number | null;
  /** Grows with every update: the row keeps the lists of the highest version it was given. */
  version: number;
}

/** A set that stops growing at `cap` and counts what did not fit (values not kept count once per add). */
export class CappedList {
  readonly values: string[] = [];
  private readonly seen = new Set<string>();
  overflow = 0;

  constructor(private readonly cap: number) {}

  add(value: string): void {
    if (this.seen.has(value)) return;
    if (this.values.length >= this.cap) {
      this.overflow++;
      return;
    }
    this.seen.add(value);
    this.values.push(value);
  }

  get distinct(): number {
    return this.values.length + this.overflow;
  }
}
