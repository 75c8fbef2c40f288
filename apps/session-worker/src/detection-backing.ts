// Detection-backed alerts at verdict time (lib/src/detectors/detection-alerts.ts): a session whose subject is under
// an open incident of the detector stage, and that the incident's rule observes, is an alert of the incident's
// class, stored so with its verdict; its packets are then kept in alert_packet like any alert's. The detector stage
// publishes its open incidents and the settings its rules run with in Redis; two pipelined reads per batch (the
// settings, then the keys of the batch's subjects) find them. The detector stage marks the same rows after it has
// seen them anyway, so a session verdicted before its incident opened still becomes an alert (without packets).

import { DETECTORS } from '@fleetcap/lib/detectors/config';
import {
  ALERT_LABEL_OF_DETECTOR,
  activeIncidentKey,
  alertConfigKey,
  backingOf,
  type DetectionBacking,
  DetectionStateError,
  decodeActiveIncident,
  decodeAlertConfig,
  type IncidentSpan,
} from '@fleetcap/lib/detectors/detection-alerts';
import { detectorSessionOfLoaded } from '@fleetcap/lib/detectors/verdict-event';
import type { RedisClient } from '@fleetcap/lib/redis/connect';
import { pipelineByItem } from '@fleetcap/lib/redis/slot-groups';
import type { LoadedSession } from '@fleetcap/lib/session-store/reader';
import { Counter, type Registry } from '@fleetcap/lib/telemetry/metrics';
import type { Logger } from 'pino';

export interface Classified {
  session: LoadedSession;
  label: string;
  score: number;
}

/** The worker's metrics of detection-backed alerts (in createWorkerMetrics, so its registry has them from the start). */
export function detectionBackingMetrics(registry: Registry) {
  const detectionAlerts = new Counter({
    name: 'fleetcap_worker_detection_alerts_total',
    help: 'Verdict rows stored as alerts because their subject is under an open incident, by detector',
    labelNames: ['detector'],
    registers: [registry],
  });
  for (const detector of DETECTORS) if (ALERT_LABEL_OF_DETECTOR[detector]) detectionAlerts.inc({ detector }, 0);
  return {
    detectionAlerts,
    detectionStateUnreadable: new Counter({
      name: 'fleetcap_worker_detection_state_unreadable_total',
      help: 'Detector state in Redis that could not be read (logged with code session-worker.detection-state-unreadable)',
      registers: [registry],
    }),
  };
}

export class DetectionBackingLookup {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly metrics: ReturnType<typeof detectionBackingMetrics>,
    private readonly log: Logger,
  ) {}

  /** Per session, in order: the open incident it is evidence of, or null. */
  async lookup(items: readonly Classified[]): Promise<Array<DetectionBacking | null>> {
    const none = items.map(() => null);
    if (items.length === 0) return none;
    const configKey = alertConfigKey(this.prefix);
    const configText = await this.redis.get(configKey);
    if (configText === null) return none; // no detector stage has an open incident
    let config: ReturnType<typeof decodeAlertConfig>;
    try {
      config = decodeAlertConfig(configText, configKey);
    } catch (err) {
      this.refuse(err);
      return none;
    }
    const views = items.map((c) => detectorSessionOfLoaded(c.session, c.label, c.score));
    const keys = new Set<string>();
    for (const v of views) {
      backingOf(
        v,
        config,
        (detector, subject) => {
          keys.add(activeIncidentKey(this.prefix, detector, subject));
          return undefined;
        },
        true,
      );
    }
    if (keys.size === 0) return none;
    const asked = [...keys];
    const replies = (
      await pipelineByItem(
        this.redis,
        asked,
        (key) => key,
        (pipeline, key) => pipeline.get(key),
      )
    ).map((item) => item[0]!);
    const spans = new Map<string, IncidentSpan[]>();
    replies.forEach(([err, value], i) => {
      if (err) throw err;
      if (typeof value !== 'string') return;
      try {
        spans.set(asked[i]!, [decodeActiveIncident(value, asked[i]!)]);
      } catch (cause) {
        this.refuse(cause);
      }
    });
    if (spans.size === 0) return none;
    return views.map((v) => {
      const backing = backingOf(
        v,
        config,
        (detector, subject) => spans.get(activeIncidentKey(this.prefix, detector, subject)),
        true,
      );
      if (backing) this.metrics.detectionAlerts.inc({ detector: backing.detector });
      return backing;
    });
  }

  private refuse(err: unknown): void {
    if (!(err instanceof DetectionStateError)) throw err;
    this.metrics.detectionStateUnreadable.inc();
    this.log.warn(
      { code: 'session-worker.detection-state-unreadable', err: err.message },
      'detector state in Redis ignored: these sessions are stored without detection-backed alerts',
    );
  }
}
