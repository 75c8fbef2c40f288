// Detection-backed alerts, the detector stage's part (lib/src/detectors/detection-alerts.ts has the rules). After a
// batch's incidents are written:
//   - the verdict rows of each incident's evidence become alerts of its class (alert_reason 'detection', or
//     'model+detection' when the model alerted too; alert_label, detection_id): the sessions that opened it, which
//     were verdicted before it existed, and the batch's sessions that the incident's rule observes for its subject;
//   - each open incident is published in Redis for the session-worker, which then makes the subject's next sessions
//     alerts at verdict time (and so keeps their packets in alert_packet, which a row marked here has lost: the worker
//     freed them from Redis with the verdict).
// Rows are matched by Community ID within the incident's times, so every agent's row of an evidence conversation is
// marked; `detection_id IS NULL` keeps a row's first incident and makes a repeat (a redelivered batch, the next
// batch of the same incident) change nothing. Evidence of the opening is the incident's evidence list, capped at
// evidence_cap (100 by default, above every default threshold): a threshold above the cap leaves the sessions past
// the cap that opened it unmarked.
import { DETECTORS, type DetectorConfig, type DetectorName } from '@fleetcap/lib/detectors/config';
import type { Detection } from '@fleetcap/lib/detectors/detection';
import {
  ALERT_LABEL_OF_DETECTOR,
  ALERTING_DETECTORS,
  activeIncidentKey,
  activeIncidentTtlSeconds,
  alertConfigKey,
  encodeActiveIncident,
  encodeAlertConfig,
  spanCovers,
  spanOfDetection,
} from '@fleetcap/lib/detectors/detection-alerts';
import type { DetectorSession } from '@fleetcap/lib/detectors/detector-session';
import { observe } from '@fleetcap/lib/detectors/rules';
import type { RedisClient } from '@fleetcap/lib/redis/connect';
import { pipelineByItem } from '@fleetcap/lib/redis/slot-groups';
import { Counter, type Registry } from '@fleetcap/lib/telemetry/metrics';
import type { Pool } from 'mysql2/promise';
import { datetimeOfUs, newestPerIncident } from './detection-writer.ts';

/** The verdict rows of one incident's evidence to mark, by Community ID within [fromUs, toUs] (session starts). */
export interface EvidenceRows {
  detectionId: string;
  detector: DetectorName;
  alertLabel: string;
  communityIds: string[];
  fromUs: number;
  toUs: number;
}

/** Per incident of the batch whose detector makes alerts: its evidence list and the batch's sessions of it. */
export function evidenceRowsOf(
  detections: readonly Detection[],
  sessions: readonly DetectorSession[],
  config: DetectorConfig,
): EvidenceRows[] {
  const out: EvidenceRows[] = [];
  for (const d of newestPerIncident([...detections])) {
    const alertLabel = ALERT_LABEL_OF_DETECTOR[d.detector];
    if (!alertLabel) continue;
    const ids = new Set(d.evidence);
    let fromUs = d.firstSeenUs;
    let toUs = d.lastSeenUs;
    const span = spanOfDetection(d);
    for (const s of sessions) {
      const o = observe(d.detector, s, config[d.detector]);
      if (!o || o.subject.key !== d.subject || !spanCovers(span, o.timeUs, true)) continue;
      ids.add(s.communityId);
      fromUs = Math.min(fromUs, s.firstUs);
      toUs = Math.max(toUs, s.firstUs);
    }
    out.push({ detectionId: d.id, detector: d.detector, alertLabel, communityIds: [...ids], fromUs, toUs });
  }
  // A row of two incidents keeps the first that marks it: in a batch, in the order the worker picks one.
  return out.sort((a, b) => ALERTING_DETECTORS.indexOf(a.detector) - ALERTING_DETECTORS.indexOf(b.detector));
}

/** Marks one incident's evidence rows; returns how many rows it changed. */
export async function markEvidenceRows(pool: Pool, e: EvidenceRows): Promise<number> {
  if (e.communityIds.length === 0) return 0;
  // MariaDB applies the assignments left to right: alert_reason reads alert before it is set.
  const [result] = await pool.query(
    `UPDATE session_verdict
        SET alert_reason = IF(alert = 1, 'model+detection', 'detection'), alert = 1, alert_label = ?, detection_id = ?
      WHERE community_id IN (?) AND first_packet_at BETWEEN ? AND ? AND detection_id IS NULL`,
    [e.alertLabel, e.detectionId, e.communityIds, datetimeOfUs(e.fromUs), datetimeOfUs(e.toUs)],
  );
  return (result as { affectedRows: number }).affectedRows;
}

/** The detector's metric of detection-backed alerts (in createDetectorMetrics, so its registry has it from the start). */
export function evidenceAlertMetrics(registry: Registry) {
  const alertRows = new Counter({
    name: 'fleetcap_detector_alert_rows_total',
    help: 'Verdict rows made alerts as evidence of an incident after their verdict, by detector',
    labelNames: ['detector'],
    registers: [registry],
  });
  for (const detector of DETECTORS) if (ALERT_LABEL_OF_DETECTOR[detector]) alertRows.inc({ detector }, 0);
  return { alertRows };
}

export class EvidenceAlerts {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly pool: Pool,
    private readonly metrics: ReturnType<typeof evidenceAlertMetrics>,
  ) {}

  /** The batch's incidents: published for the worker, then their evidence rows marked. Returns rows marked. */
  async apply(detections: readonly Detection[], sessions: readonly DetectorSession[], config: DetectorConfig) {
    const evidence = evidenceRowsOf(detections, sessions, config);
    if (evidence.length === 0) return 0;
    await this.publish(detections, config);
    let marked = 0;
    for (const e of evidence) {
      const n = await markEvidenceRows(this.pool, e);
      if (n > 0) this.metrics.alertRows.inc({ detector: e.detector }, n);
      marked += n;
    }
    return marked;
  }

  /** Each open incident under its subject's key, and the settings its rules run with (the worker applies them). */
  private async publish(detections: readonly Detection[], config: DetectorConfig): Promise<void> {
    const writes: Array<{ key: string; value: string; ttl: number }> = [];
    for (const d of newestPerIncident([...detections])) {
      if (!ALERT_LABEL_OF_DETECTOR[d.detector]) continue;
      const ttl = activeIncidentTtlSeconds(config[d.detector]);
      writes.push({ key: activeIncidentKey(this.prefix, d.detector, d.subject), value: encodeActiveIncident(d), ttl });
    }
    // As long as any incident key may live: without the settings the worker reads none of them.
    const longest = Math.max(...DETECTORS.map((d) => activeIncidentTtlSeconds(config[d])));
    writes.push({ key: alertConfigKey(this.prefix), value: encodeAlertConfig(config), ttl: longest });
    // The subjects' keys spread over a cluster's masters: one pipeline per master (lib/src/redis/slot-groups.ts).
    const results = await pipelineByItem(
      this.redis,
      writes,
      (w) => w.key,
      (pipeline, w) => pipeline.set(w.key, w.value, 'EX', w.ttl),
    );
    for (const item of results) if (item[0]![0]) throw item[0]![0];
  }
}
