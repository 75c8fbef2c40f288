// One batch of verdict events: decode (an event that cannot be decoded is logged, counted and dropped; the rest go
// on) -> the detectors in Redis -> the incidents they opened or changed upserted into the detection table -> ack.
// A server that is away (Redis, MariaDB) is retried with backoff while the events stay unacknowledged; a crash
// redelivers them, which adds nothing new to a window (members are destinations, ports, Community IDs).
import { setTimeout as sleep } from 'node:timers/promises';
import type { DetectorConfig } from '@fleetcap/lib/detectors/config';
import { DETECTORS } from '@fleetcap/lib/detectors/config';
import type { DetectorSession } from '@fleetcap/lib/detectors/detector-session';
import { decodeVerdictEvent, VerdictEventError } from '@fleetcap/lib/detectors/verdict-event';
import { backoffDelay } from '@fleetcap/lib/runtime/backoff';
import type { Pool } from 'mysql2/promise';
import type { Logger } from 'pino';
import { upsertDetections } from './detection-writer.ts';
import type { EvidenceAlerts } from './evidence-alerts.ts';
import type { DetectorMetrics } from './metrics.ts';
import type { RedisDetector } from './redis-detector.ts';

export interface Delivery {
  body: Buffer;
  ack: () => void;
}

export interface ProcessorDeps {
  detector: RedisDetector;
  pool: Pool;
  config: () => DetectorConfig;
  metrics: DetectorMetrics;
  log: Logger;
  isStopping: () => boolean;
  /** Marks the incidents' evidence rows as alerts and publishes open incidents for the worker (evidence-alerts.ts). */
  evidenceAlerts?: EvidenceAlerts;
}

export class StoppedWhileRetrying extends Error {
  override name = 'StoppedWhileRetrying';
}

export class DetectorProcessor {
  constructor(private readonly d: ProcessorDeps) {}

  private async retry<T>(stage: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (this.d.isStopping()) throw new StoppedWhileRetrying(`${stage}: stopping after ${(err as Error).message}`);
        const waitMs = backoffDelay(attempt, { baseMs: 200, maxMs: 10_000 });
        this.d.metrics.retries.inc({ stage });
        this.d.log.warn(
          { code: 'detector.retry', stage, attempt, waitMs, err: (err as Error).message },
          'detector step failed; retrying (events stay unacknowledged)',
        );
        await sleep(waitMs);
      }
    }
  }

  async process(deliveries: Delivery[]): Promise<void> {
    const started = process.hrtime.bigint();
    const sessions: DetectorSession[] = [];
    for (const delivery of deliveries) {
      try {
        sessions.push(decodeVerdictEvent(delivery.body));
      } catch (err) {
        if (!(err instanceof VerdictEventError)) throw err;
        this.d.metrics.badEvents.inc();
        this.d.log.warn({ code: 'detector.bad-event', err: err.message }, 'verdict event refused and dropped');
      }
    }
    const config = this.d.config();
    const outcome = await this.retry('redis', () => this.d.detector.process(sessions, config));
    const written = await this.retry('mariadb', () => upsertDetections(this.d.pool, outcome.detections));
    const evidenceAlerts = this.d.evidenceAlerts;
    if (evidenceAlerts) await this.retry('alerts', () => evidenceAlerts.apply(outcome.detections, sessions, config));
    for (const delivery of deliveries) delivery.ack();

    const m = this.d.metrics;
    m.sessions.inc(sessions.length);
    m.rowsWritten.inc(written);
    for (const detector of DETECTORS) {
      if (outcome.observations[detector] > 0) m.observations.inc({ detector }, outcome.observations[detector]);
      if (outcome.opened[detector] > 0) m.detections.inc({ detector }, outcome.opened[detector]);
      if (outcome.memberEvictions[detector] > 0)
        m.evictions.inc({ detector, kind: 'members' }, outcome.memberEvictions[detector]);
      if (outcome.subjectEvictions[detector] > 0)
        m.evictions.inc({ detector, kind: 'subjects' }, outcome.subjectEvictions[detector]);
    }
    for (const d of outcome.detections) {
      if (outcome.openedIds.has(d.id)) {
        this.d.log.info(
          {
            detector: d.detector,
            source: d.source,
            target: d.target,
            count: d.peakCount,
            agents: d.agents,
            incident: d.id,
          },
          'detection opened',
        );
      }
    }
    m.batchSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
  }
}
