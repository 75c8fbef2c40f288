// session-worker's Prometheus metrics.
import { Counter, createRegistry, Histogram } from '@fleetcap/lib/telemetry/metrics';

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
    verdicts: new Counter({
      name: 'fleetcap_worker_verdicts_total',
      help: 'Verdict rows inserted, by label',
      labelNames: ['label'],
      registers: [registry],
    }),
    retries: new Counter({
      name: 'fleetcap_worker_retries_total',
      help: 'Retried steps by stage (load, forecast, insert, finish) — a server is away',
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
  };
}
export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;
