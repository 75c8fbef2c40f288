// One batch of queue messages, in the order that makes a crash harmless anywhere:
//   load sessions -> forecast -> INSERT IGNORE verdict rows -> done markers + free keys -> ack.
// A redelivered message finds either its session still in Redis (and the INSERT is a no-op) or the
// done marker (and is acked), so every session occurrence ends with exactly one row.
import type { Pool } from 'mysql2/promise';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { type SessionMessage, type ScheduleReason, decodeSessionMessage } from '@fleetcap/lib/queue/session-message';
import type { ForecastClient } from './forecast-client.ts';
import type { WorkerMetrics } from './metrics.ts';
import { withRetry } from './retry.ts';
import type { SessionFinisher } from './session-finisher.ts';
import { type LoadedSession, loadSessions } from './session-loader.ts';
import { type VerdictRow, insertVerdicts } from './verdict-writer.ts';

export interface Delivery {
  body: Buffer;
  ack: () => void;
  deadLetter: (reason: string) => Promise<void>;
}

export interface ProcessorDeps {
  redis: Redis;
  prefix: string;
  pool: Pool;
  forecast: ForecastClient;
  finisher: SessionFinisher;
  metrics: WorkerMetrics;
  log: Logger;
  isStopping: () => boolean;
  now?: () => number;
}

const reasonRank: Record<ScheduleReason, number> = { delay: 0, closed: 1, full: 2 };

export class BatchProcessor {
  constructor(private readonly d: ProcessorDeps) {}

  private retry<T>(stage: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, {
      stage,
      isStopping: this.d.isStopping,
      onRetry: (s, attempt, err, waitMs) => {
        this.d.metrics.retries.inc({ stage: s });
        this.d.log.warn({ stage: s, attempt, waitMs, err: err.message }, `${s} failed; retrying (messages stay unacknowledged)`);
      },
    });
  }

  async process(deliveries: Delivery[]): Promise<void> {
    const started = process.hrtime.bigint();
    const valid: Array<{ delivery: Delivery; message: SessionMessage }> = [];
    for (const delivery of deliveries) {
      try {
        valid.push({ delivery, message: decodeSessionMessage(delivery.body) });
      } catch (err) {
        await this.poison(delivery, (err as Error).message);
      }
    }
    const outcomes = await this.retry('load', () => loadSessions(this.d.redis, this.d.prefix, valid.map((v) => v.message)));

    // Two messages for one occurrence (delay and full) share one verdict, stored with the earlier-path reason.
    const toClassify = new Map<string, { session: LoadedSession; reason: ScheduleReason }>();
    const toAck: Delivery[] = [];
    for (const [i, outcome] of outcomes.entries()) {
      const { delivery, message } = valid[i]!;
      if (outcome.kind === 'poison') {
        await this.poison(delivery, outcome.why);
        continue;
      }
      toAck.push(delivery);
      if (outcome.kind === 'skip') {
        this.d.metrics.messages.inc({ outcome: outcome.why });
        continue;
      }
      const id = `${message.key}#${outcome.session.occurrence}`;
      const prior = toClassify.get(id);
      if (!prior || reasonRank[message.reason] > reasonRank[prior.reason]) {
        toClassify.set(id, { session: outcome.session, reason: message.reason });
      }
      this.d.metrics.messages.inc({ outcome: 'classified' });
    }

    const work = [...toClassify.values()];
    if (work.length > 0) {
      const answer = await this.retry('forecast', () => this.d.forecast.classify(work.map((w) => w.session)));
      const rows: VerdictRow[] = work.map((w, i) => ({
        session: w.session,
        label: answer.verdicts[i]!.label,
        score: answer.verdicts[i]!.score,
        modelVersion: answer.modelVersion,
        reason: w.reason,
      }));
      const inserted = await this.retry('insert', () => insertVerdicts(this.d.pool, rows));
      await this.retry('finish', () =>
        this.d.finisher.finish(work.map((w) => ({ key: w.session.message.key, occurrence: w.session.occurrence }))),
      );
      const now = (this.d.now ?? Date.now)();
      for (const r of rows) {
        this.d.metrics.verdicts.inc({ label: r.label });
        this.d.metrics.latencySeconds.observe({ reason: r.reason }, (now - r.session.message.enqueuedAt) / 1000);
      }
      if (inserted < rows.length) {
        this.d.log.info({ rows: rows.length, inserted }, 'some verdicts were already stored (a redelivery after a crash)');
      }
    }
    for (const delivery of toAck) delivery.ack();
    this.d.metrics.batchSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
  }

  private async poison(delivery: Delivery, why: string): Promise<void> {
    this.d.log.error({ why }, 'dead-lettering a message that cannot be processed');
    this.d.metrics.messages.inc({ outcome: 'dead-lettered' });
    await delivery.deadLetter(why);
  }
}
