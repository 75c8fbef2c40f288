// The detector stage's Prometheus metrics.
import { DETECTORS } from '@fleetcap/lib/detectors/config';
import { Counter, createRegistry, Gauge, Histogram } from '@fleetcap/lib/telemetry/metrics';
import { evidenceAlertMetrics } from './evidence-alerts.ts';

export function createDetectorMetrics() {
  const registry = createRegistry('detector');
  const detections = new Counter({
    name: 'fleetcap_detector_detections_total',
    help: 'Incidents opened, by detector (each once, whichever replica opened it)',
    labelNames: ['detector'],
    registers: [registry],
  });
  const evictions = new Counter({
    name: 'fleetcap_detector_evictions_total',
    help: 'Detector state evicted by a cap: members (oldest member of a subject past member_cap) or subjects (new subject refused past subject_cap)',
    labelNames: ['detector', 'kind'],
    registers: [registry],
  });
  // Every series from the start, at 0: an alert on increase() sees the first incident too, and a dashboard panel
  // has its series before the first eviction.
  for (const detector of DETECTORS) {
    detections.inc({ detector }, 0);
    for (const kind of ['members', 'subjects']) evictions.inc({ detector, kind }, 0);
  }
  return {
    registry,
    detections,
    sessions: new Counter({
      name: 'fleetcap_detector_sessions_total',
      help: 'Verdict events consumed (sessions fed to the detectors)',
      registers: [registry],
    }),
    badEvents: new Counter({
      name: 'fleetcap_detector_bad_events_total',
      help: 'Verdict events that could not be decoded (dropped, logged with code detector.bad-event)',
      registers: [registry],
    }),
    observations: new Counter({
      name: 'fleetcap_detector_observations_total',
      help: 'Sessions a detector counted, by detector',
      labelNames: ['detector'],
      registers: [registry],
    }),
    rowsWritten: new Counter({
      name: 'fleetcap_detector_rows_written_total',
      help: 'Detection rows inserted or updated',
      registers: [registry],
    }),
    evictions,
    configRefused: new Counter({
      name: 'fleetcap_detector_config_refused_total',
      help: 'detector_config rows refused at a read (the detector keeps its previous settings)',
      registers: [registry],
    }),
    configUnreadable: new Counter({
      name: 'fleetcap_detector_config_unreadable_total',
      help: 'Reads of detector_config that failed (the detectors keep their settings)',
      registers: [registry],
    }),
    threshold: new Gauge({
      name: 'fleetcap_detector_threshold',
      help: 'The threshold each detector runs with (from detector_config)',
      labelNames: ['detector'],
      registers: [registry],
    }),
    retries: new Counter({
      name: 'fleetcap_detector_retries_total',
      help: 'Retried steps by stage (redis, mariadb): a server is away; the events stay unacknowledged',
      labelNames: ['stage'],
      registers: [registry],
    }),
    batchSeconds: new Histogram({
      name: 'fleetcap_detector_batch_seconds',
      help: 'Time to process one batch of verdict events, from first delivery to ack',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    ...evidenceAlertMetrics(registry),
  };
}
export type DetectorMetrics = ReturnType<typeof createDetectorMetrics>;
