// session-worker's Prometheus metrics.
import { Counter, createRegistry, Gauge, Histogram } from '@fleetcap/lib/telemetry/metrics';
import { detectionBackingMetrics } from './detection-backing.ts';

export function createWorkerMetrics() {
  const registry = createRegistry('session-worker');
  return {
    registry,
    messages: new Counter({
      name: 'fleetcap_worker_messages_total',
      help: 'Queue messages by outcome (classified, done, gone, other-occurrence, dead-lettered)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    redeliveries: new Counter({
      name: 'fleetcap_worker_redeliveries_total',
      help: 'Queue messages RabbitMQ delivered again (x-delivery-count > 0: a consumer or a node lost before the ack)',
      registers: [registry],
    }),
    packetsAfterLoad: new Counter({
      name: 'fleetcap_worker_packets_after_load_total',
      help: "Packets appended to a session between the worker's load and its finish: not in the verdict's packets, only in its connection record",
      registers: [registry],
    }),
    verdicts: new Counter({
      name: 'fleetcap_worker_verdicts_total',
      help: 'Verdict rows inserted, by label',
      labelNames: ['label'],
      registers: [registry],
    }),
    alerts: new Counter({
      name: 'fleetcap_worker_alerts_total',
      help: "Verdict rows that are alerts (the model card's alert policy), by label",
      labelNames: ['label'],
      registers: [registry],
    }),
    unknown: new Counter({
      name: 'fleetcap_worker_unknown_total',
      help: 'Verdict rows of sessions unlike what the model knows (under the alert policy floor; never alerts)',
      registers: [registry],
    }),
    alertPackets: new Counter({
      name: 'fleetcap_worker_alert_packets_total',
      help: 'Packets of alerted sessions written to alert_packet (with their verdict rows, in one transaction)',
      registers: [registry],
    }),
    alertsWithoutFrames: new Counter({
      name: 'fleetcap_worker_alerts_without_frames_total',
      help: 'Alerted sessions whose packets were stored without frames (by a splitcap from before frames): none kept',
      registers: [registry],
    }),
    partitions: new Gauge({
      name: 'fleetcap_worker_partitions',
      help: 'Day partitions of each table partitioned by day (sql/016) after the last maintenance run',
      labelNames: ['table'],
      registers: [registry],
    }),
    partitionsAdded: new Counter({
      name: 'fleetcap_worker_partitions_added_total',
      help: 'Day partitions added ahead by the maintenance, by table',
      labelNames: ['table'],
      registers: [registry],
    }),
    partitionsDropped: new Counter({
      name: 'fleetcap_worker_partitions_dropped_total',
      help: "Partitions dropped by the retention (older than retention_policy's retention_days), by table",
      labelNames: ['table'],
      registers: [registry],
    }),
    retentionRuns: new Counter({
      name: 'fleetcap_worker_retention_runs_total',
      help: 'Retention (partition maintenance) runs by outcome (done, skipped: another worker holds the lock, failed; no-policy: a table has no retention row)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    retries: new Counter({
      name: 'fleetcap_worker_retries_total',
      help: 'Retried steps by stage (load, forecast, insert, finish, arm, sweep-*, complete) — a server is away',
      labelNames: ['stage'],
      registers: [registry],
    }),
    forecastSplits: new Counter({
      name: 'fleetcap_worker_forecast_splits_total',
      help: 'Forecast requests of several sessions that forecast refused (400, 413, 422) and that were split in halves',
      registers: [registry],
    }),
    forecastRejections: new Counter({
      name: 'fleetcap_worker_forecast_rejections_total',
      help: 'Sessions forecast refused on their own, by HTTP status; their messages are dead-lettered',
      labelNames: ['status'],
      registers: [registry],
    }),
    metadataProblems: new Counter({
      name: 'fleetcap_worker_metadata_problems_total',
      help: "Application metadata that could not be read from stored packets, by reason (the parsers' codes, stored.no-frame, stored.undecodable, metadata.exception)",
      labelNames: ['reason'],
      registers: [registry],
    }),
    metadataTruncated: new Counter({
      name: 'fleetcap_worker_metadata_truncated_total',
      help: 'Application metadata fields cut to their column length, by column',
      labelNames: ['field'],
      registers: [registry],
    }),
    metadataBeyondStored: new Counter({
      name: 'fleetcap_worker_metadata_beyond_stored_total',
      help: 'Application metadata fields left empty because their data lies beyond the stored packets, by field',
      labelNames: ['field'],
      registers: [registry],
    }),
    recordSweeps: new Counter({
      name: 'fleetcap_worker_record_sweeps_total',
      help: 'Looks at connection records by outcome (completed, rearmed, gone, closed-without-record, no-row, corrupt, dead-lettered)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    packetsWithoutPayload: new Counter({
      name: 'fleetcap_worker_packets_without_payload_total',
      help: 'Stored packets with payload whose frame gave forecast no payload bytes (no frame stored, or not decodable): their sessions get content features unlike training',
      registers: [registry],
    }),
    batchSeconds: new Histogram({
      name: 'fleetcap_worker_batch_seconds',
      help: 'Time to process one batch of messages, from first delivery to ack',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    latencySeconds: new Histogram({
      name: 'fleetcap_worker_enqueue_to_commit_seconds',
      help: 'From splitcap enqueuing a session message to its verdict row committed',
      labelNames: ['reason'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [registry],
    }),
    ...detectionBackingMetrics(registry),
  };
}
export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;
