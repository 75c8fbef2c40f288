// One batch of queue messages, in the order that makes a crash harmless anywhere:
//   load sessions -> forecast -> INSERT IGNORE verdict rows -> done markers + free keys -> ack.
// A redelivered message finds either its session still in Redis (and the INSERT is a no-op) or the
// done marker (and is acked), so every session occurrence ends with exactly one row.
// forecast refusing a request (ForecastRejected: 400/413/422, never retried) splits the batch in halves until
// each part passes; a single session it still refuses is dead-lettered and the rest of the batch goes on.

import { alertOutcome } from '@fleetcap/lib/detectors/detection-alerts';
import { decodeSessionMessage, type ScheduleReason, type SessionMessage } from '@fleetcap/lib/queue/session-message';
import type { RedisClient } from '@fleetcap/lib/redis/connect';
import { agentSessionKey } from '@fleetcap/lib/session/key';
import type { SessionFinisher } from '@fleetcap/lib/session-store/finisher';
import { type LoadedSession, loadSessions } from '@fleetcap/lib/session-store/reader';
import type { Pool } from 'mysql2/promise';
import type { Logger } from 'pino';
import { storeVerdictsWithAlertPackets } from './alert-packets.ts';
import type { DetectionBackingLookup } from './detection-backing.ts';
import { type ForecastClient, ForecastRejected, type Verdict } from './forecast-client.ts';
import type { WorkerMetrics } from './metrics.ts';
import { withRetry } from './retry.ts';
import { type MetadataValues, verdictMetadata } from './verdict-metadata.ts';
import type { VerdictPublisher } from './verdict-publisher.ts';
import type { VerdictRow } from './verdict-writer.ts';

export interface Delivery {
  body: Buffer;
  /** RabbitMQ's x-delivery-count: deliveries of this message before this one (counted in the redeliveries metric). */
  deliveryCount?: number;
  ack: () => void;
  deadLetter: (reason: string) => Promise<void>;
}

export interface ProcessorDeps {
  redis: RedisClient;
  prefix: string;
  pool: Pool;
  forecast: ForecastClient;
  finisher: SessionFinisher;
  metrics: WorkerMetrics;
  log: Logger;
  isStopping: () => boolean;
  now?: () => number;
  /** After the verdicts' keys are freed: the sweeper's first look at their connections (record-sweeper.ts). */
  afterFinish?: (sessions: FinishedSession[]) => Promise<void>;
  /** Committed verdicts go on to the detector stage. */
  verdictPublisher?: VerdictPublisher;
  /** Sessions under an open incident of the detector stage are alerts of its class (detection-backing.ts). */
  detectionBacking?: DetectionBackingLookup;
}

const reasonRank: Record<ScheduleReason, number> = { delay: 0, closed: 1, full: 2 };

/** One session occurrence (of one agent) to classify, and every delivery (delay, full, ...) that asked for it. */
/** A session whose verdict is stored and keys freed: what the sweeper needs to look at its connection. */
export interface FinishedSession {
  agent: string;
  key: string;
  occurrence: number;
  communityId: string;
}

interface Work {
  session: LoadedSession;
  reason: ScheduleReason;
  deliveries: Delivery[];
}

type Classified =
  | { kind: 'verdict'; verdict: Verdict; modelVersion: string }
  | { kind: 'rejected'; error: ForecastRejected };

const retryableForecastError = (err: Error): boolean => !(err instanceof ForecastRejected);

/** The x-fleetcap-reason of a message whose session forecast refuses on its own: what forecast said, what to do. */
export function rejectionReason(err: ForecastRejected): string {
  const advice = /packets/.test(err.detail)
    ? "check forecast's FLEETCAP_FORECAST_MAX_PACKETS >= splitcap's FLEETCAP_SESSION_MAX_PACKETS"
    : err.status === 413
      ? "raise forecast's FLEETCAP_FORECAST_MAX_BODY_BYTES"
      : 'check that forecast and the session-workers run the same version';
  return `forecast refused the session (${err.status} ${err.detail}): ${advice}, then replay the message`;
}

export class BatchProcessor {
  constructor(private readonly d: ProcessorDeps) {}

  private retry<T>(stage: string, fn: () => Promise<T>, retryable?: (err: Error) => boolean): Promise<T> {
    return withRetry(fn, {
      stage,
      retryable,
      isStopping: this.d.isStopping,
      onRetry: (s, attempt, err, waitMs) => {
        this.d.metrics.retries.inc({ stage: s });
        this.d.log.warn(
          { stage: s, attempt, waitMs, err: err.message },
          `${s} failed; retrying (messages stay unacknowledged)`,
        );
      },
    });
  }

  async process(deliveries: Delivery[]): Promise<void> {
    const started = process.hrtime.bigint();
    const again = deliveries.filter((d) => (d.deliveryCount ?? 0) > 0).length;
    if (again > 0) this.d.metrics.redeliveries.inc(again);
    const valid: Array<{ delivery: Delivery; message: SessionMessage }> = [];
    for (const delivery of deliveries) {
      try {
        valid.push({ delivery, message: decodeSessionMessage(delivery.body) });
      } catch (err) {
        await this.poison(delivery, (err as Error).message);
      }
    }
    const outcomes = await this.retry('load', () =>
      loadSessions(
        this.d.redis,
        this.d.prefix,
        valid.map((v) => v.message),
      ),
    );

    // Two messages for one occurrence (delay and full) share one verdict, stored with the earlier-path reason. The
    // same conversation seen by two agents is two sessions: two verdicts.
    const toClassify = new Map<string, Work>();
    const toAck: Delivery[] = [];
    const lookAgain: FinishedSession[] = [];
    for (const [i, outcome] of outcomes.entries()) {
      const { delivery, message } = valid[i]!;
      if (outcome.kind === 'poison') {
        await this.poison(delivery, outcome.why);
        continue;
      }
      if (outcome.kind === 'skip') {
        // A session already done may be one whose worker died after its finish and before the sweeper's first look:
        // its message came back, so the look is armed again (a look at a record already completed finds it gone, and
        // closes nothing that is closed). So is one whose done marker expired before the message came back (gone, or
        // another occurrence since): its record would otherwise stay open, never completed, and take the session's
        // packets into no row until its TTL (splitcap starts no occurrence while a finished one's record is open).
        {
          const { agent, key, occurrence, communityId } = message;
          lookAgain.push({ agent, key, occurrence, communityId });
        }
        toAck.push(delivery);
        this.d.metrics.messages.inc({ outcome: outcome.why });
        continue;
      }
      const id = `${agentSessionKey(message.agent, message.key)}#${outcome.session.occurrence}`;
      const prior = toClassify.get(id);
      if (!prior) {
        toClassify.set(id, { session: outcome.session, reason: message.reason, deliveries: [delivery] });
      } else {
        prior.deliveries.push(delivery);
        if (reasonRank[message.reason] > reasonRank[prior.reason]) {
          prior.session = outcome.session;
          prior.reason = message.reason;
        }
      }
    }

    const work = [...toClassify.values()];
    const refused: Array<{ work: Work; error: ForecastRejected }> = [];
    if (work.length > 0) {
      const results = await this.classify(work.map((w) => w.session));
      const backing = await this.detectionBackingOf(work, results);
      const rows: VerdictRow[] = [];
      const stored: Work[] = [];
      for (const [i, w] of work.entries()) {
        const r = results[i]!;
        if (r.kind === 'rejected') {
          refused.push({ work: w, error: r.error });
          continue;
        }
        stored.push(w);
        toAck.push(...w.deliveries);
        this.d.metrics.messages.inc({ outcome: 'classified' }, w.deliveries.length);
        rows.push({
          session: w.session,
          label: r.verdict.label,
          score: r.verdict.score,
          ...alertOutcome(r.verdict, backing[i] ?? null),
          unknown: r.verdict.unknown,
          modelVersion: r.modelVersion,
          reason: w.reason,
          metadata: this.metadataOf(w.session),
        });
      }
      const kept = await this.retry('insert', () => storeVerdictsWithAlertPackets(this.d.pool, rows));
      const inserted = kept.inserted;
      this.d.metrics.alertPackets.inc(kept.packetsInserted);
      if (kept.withoutFrames > 0) {
        this.d.metrics.alertsWithoutFrames.inc(kept.withoutFrames);
        this.d.log.warn(
          { code: 'session-worker.alert-without-frames', sessions: kept.withoutFrames },
          'alerted sessions stored by a splitcap from before stored frames: their packets cannot be kept',
        );
      }
      const publisher = this.d.verdictPublisher;
      if (publisher && rows.length > 0) await this.retry('publish', () => publisher.publish(rows));
      if (stored.length > 0) {
        const late = await this.retry('finish', () =>
          this.d.finisher.finish(
            stored.map((w) => ({
              agent: w.session.agent,
              key: w.session.message.key,
              occurrence: w.session.occurrence,
              packetsSeen: w.session.packetsSeen,
            })),
          ),
        );
        if (late > 0) {
          this.d.metrics.packetsAfterLoad.inc(late);
          this.d.log.info(
            { code: 'session-worker.packets-after-load', packets: late },
            "packets reached sessions between their load and their finish: counted in their connection records, not in their verdicts' packets",
          );
        }
        const afterFinish = this.d.afterFinish;
        if (afterFinish)
          await this.retry('arm', () =>
            afterFinish(
              stored.map((w) => ({
                agent: w.session.agent,
                key: w.session.message.key,
                occurrence: w.session.occurrence,
                communityId: w.session.communityId,
              })),
            ),
          );
      }
      const now = (this.d.now ?? Date.now)();
      for (const r of rows) {
        this.d.metrics.verdicts.inc({ label: r.label });
        if (r.alert) this.d.metrics.alerts.inc({ label: r.alertLabel ?? r.label });
        if (r.unknown) this.d.metrics.unknown.inc();
        this.d.metrics.latencySeconds.observe({ reason: r.reason }, (now - r.session.message.enqueuedAt) / 1000);
      }
      if (inserted < rows.length) {
        this.d.log.info(
          { rows: rows.length, inserted },
          'some verdicts were already stored (a redelivery after a crash)',
        );
      }
    }
    const afterFinish = this.d.afterFinish;
    if (afterFinish && lookAgain.length > 0) await this.retry('arm', () => afterFinish(lookAgain));
    for (const delivery of toAck) delivery.ack();
    for (const { work: w, error } of refused) {
      for (const delivery of w.deliveries) await this.poison(delivery, rejectionReason(error));
    }
    this.d.metrics.batchSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
  }

  /**
   * The verdicts of these sessions, in order: one forecast request (retried while forecast is away); a request
   * forecast refuses is split in halves, each classified the same way, down to single sessions it refuses.
   */
  private async classify(sessions: LoadedSession[]): Promise<Classified[]> {
    try {
      const answer = await this.retry('forecast', () => this.d.forecast.classify(sessions), retryableForecastError);
      return answer.verdicts.map((verdict) => ({ kind: 'verdict', verdict, modelVersion: answer.modelVersion }));
    } catch (err) {
      if (!(err instanceof ForecastRejected)) throw err;
      if (sessions.length === 1) {
        this.d.metrics.forecastRejections.inc({ status: String(err.status) });
        return [{ kind: 'rejected', error: err }];
      }
      const half = Math.ceil(sessions.length / 2);
      this.d.metrics.forecastSplits.inc();
      this.d.log.warn(
        { sessions: sessions.length, halves: [half, sessions.length - half], status: err.status, err: err.detail },
        'forecast refused a batch; classifying it in halves',
      );
      return [...(await this.classify(sessions.slice(0, half))), ...(await this.classify(sessions.slice(half)))];
    }
  }

  /** Per work item, the open incident its session is evidence of (null: none, or not classified). */
  private async detectionBackingOf(work: Work[], results: Classified[]) {
    const lookup = this.d.detectionBacking;
    const classified = work.flatMap((w, i) => {
      const r = results[i]!;
      return r.kind === 'verdict' ? [{ i, session: w.session, label: r.verdict.label, score: r.verdict.score }] : [];
    });
    const backing = work.map(() => null as Awaited<ReturnType<DetectionBackingLookup['lookup']>>[number]);
    if (!lookup || classified.length === 0) return backing;
    const found = await this.retry('detections', () => lookup.lookup(classified));
    classified.forEach((c, k) => {
      backing[c.i] = found[k]!;
    });
    return backing;
  }

  /** The application metadata stored with the verdict; its problems and cut fields are counted, never thrown. */
  private metadataOf(session: LoadedSession): MetadataValues {
    const m = verdictMetadata(session);
    for (const problem of m.problems) this.d.metrics.metadataProblems.inc({ reason: problem });
    for (const field of m.truncated) this.d.metrics.metadataTruncated.inc({ field });
    for (const field of m.beyondStored) this.d.metrics.metadataBeyondStored.inc({ field });
    return m.values;
  }

  private async poison(delivery: Delivery, why: string): Promise<void> {
    this.d.log.error({ why }, 'dead-lettering a message that cannot be processed');
    this.d.metrics.messages.inc({ outcome: 'dead-lettered' });
    await delivery.deadLetter(why);
  }
}
