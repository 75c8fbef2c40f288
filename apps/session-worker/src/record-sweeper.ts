// The sweeper: completes verdict rows when their connection is over. The verdict is written early (first packets,
// 5 s), while splitcap keeps adding every later packet of the connection to its record in Redis; the sweeper looks
// at the record `sweepMs` after the verdict and then every `sweepMs` while the connection lives (a TTL queue that
// dead-letters into the due queue, as the session delay does: one message per connection per look, never one per
// packet). At a look, the connection is over by Zeek's rules (record-sweep.ts): the record is claimed, the row
// completed (row-completion.ts), the record removed and the done marker set; else the done marker is kept alive and
// the look re-armed. Every step is safe to repeat: a crash redelivers the message and the look is done again.
import { AmqpConnection } from '@fleetcap/lib/queue/amqp-connection';
import { publishToQueue } from '@fleetcap/lib/queue/confirmed-publish';
import {
  decodeRecordSweepMessage,
  encodeRecordSweepMessage,
  type RecordSweepMessage,
} from '@fleetcap/lib/queue/record-sweep-message';
import { declareRecordSweepQueues, type RecordSweepQueues } from '@fleetcap/lib/queue/topology';
import type { Check } from '@fleetcap/lib/runtime/health';
import type { InactivityTimeouts } from '@fleetcap/lib/session-record/conn-state';
import type { StoredSessionName } from '@fleetcap/lib/session-store/layout';
import type { RecordStore } from '@fleetcap/lib/session-store/record-store';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { Pool } from 'mysql2/promise';
import type { Logger } from 'pino';
import type { WorkerMetrics } from './metrics.ts';
import { decideSweep, type SweepDecision } from './record-sweep.ts';
import { withRetry } from './retry.ts';
import { closeRowsWithoutRecord, completeRows, type RowCompletion } from './row-completion.ts';

export interface SweeperSettings {
  amqpUrls: readonly string[];
  queuePrefix: string;
  /** FLEETCAP_RECORD_SWEEP_MS: time between two looks at a connection. */
  sweepMs: number;
  doneTtlSeconds: number;
  timeouts: InactivityTimeouts;
  /** Looks handled together (one Redis round, one MariaDB round). */
  batchSize: number;
  batchMs: number;
}

export interface SweeperDeps {
  store: RecordStore;
  pool: Pool;
  metrics: WorkerMetrics;
  log: Logger;
  isStopping: () => boolean;
  now?: () => number;
}

interface Look {
  message: RecordSweepMessage;
  msg: ConsumeMessage;
  channel: ConfirmChannel;
}

export class SweeperUnavailable extends Error {
  override name = 'SweeperUnavailable';
}

export class RecordSweeper {
  private readonly amqp: AmqpConnection<RecordSweepQueues & { consumerTag: string }>;
  private pending: Look[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly s: SweeperSettings,
    private readonly d: SweeperDeps,
  ) {
    this.amqp = new AmqpConnection({
      urls: s.amqpUrls,
      log: d.log,
      whileLost: 'rows are completed once it is back (the looks wait in RabbitMQ)',
      setup: async (channel) => {
        await channel.prefetch(s.batchSize * 2);
        const queues = await declareRecordSweepQueues(channel, s.queuePrefix, s.sweepMs);
        const { consumerTag } = await this.amqp.consume(channel, queues.due, (msg) =>
          this.onMessage(channel, queues, msg),
        );
        return { ...queues, consumerTag };
      },
      onLost: () => {
        this.pending = [];
      },
    });
  }

  health(): Check {
    return this.amqp.health();
  }

  async start(): Promise<void> {
    await this.amqp.start();
  }

  /**
   * How long the done marker of an open connection is kept at each look: two sweep intervals (a look may come late),
   * or the done TTL when that is longer. Until the completion, later packets go to the record, not to a new session.
   */
  private get holdSeconds(): number {
    return Math.max(this.s.doneTtlSeconds, Math.ceil((2 * this.s.sweepMs) / 1000));
  }

  /** The first look at each of these sessions (their verdicts are stored), `sweepMs` from now. */
  async arm(sessions: Array<StoredSessionName & { occurrence: number; communityId: string }>): Promise<void> {
    await this.d.store.keepDone(sessions, this.holdSeconds);
    await this.publish(sessions.map((s) => ({ ...s, look: 1 })));
  }

  private async publish(messages: RecordSweepMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const link = this.amqp.link;
    if (!link) throw new SweeperUnavailable(`RabbitMQ is unavailable (${this.amqp.lastError || 'connecting'})`);
    const { channel, value } = link;
    await Promise.all(
      messages.map((m) =>
        publishToQueue(
          channel,
          value.sweep,
          encodeRecordSweepMessage({
            agent: m.agent,
            key: m.key,
            occurrence: m.occurrence,
            communityId: m.communityId,
            look: m.look,
          }),
          { contentType: 'application/json' },
        ),
      ),
    );
  }

  private onMessage(channel: ConfirmChannel, queues: RecordSweepQueues, msg: ConsumeMessage): void {
    let message: RecordSweepMessage;
    try {
      message = decodeRecordSweepMessage(msg.content);
    } catch (err) {
      const why = (err as Error).message;
      this.d.log.error(
        { code: 'worker.sweep-message-invalid', why },
        'dead-lettering a sweep message that cannot be read',
      );
      this.d.metrics.recordSweeps.inc({ outcome: 'dead-lettered' });
      void publishToQueue(channel, queues.dead, msg.content, {
        headers: { 'x-fleetcap-reason': why, 'x-fleetcap-dead-at': new Date().toISOString() },
      }).then(
        () => channel.ack(msg),
        () => {},
      );
      return;
    }
    this.pending.push({ message, msg, channel });
    if (this.pending.length >= this.s.batchSize) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.s.batchMs);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending.splice(0, this.s.batchSize);
    if (batch.length === 0) return;
    // One batch at a time: looks are cheap, and two batches never race on one record.
    this.running = this.running
      .then(() => this.look(batch))
      .catch((err: Error) =>
        this.d.log.error(
          { code: 'worker.sweep-failed', err: err.message },
          'sweep batch failed; its looks are redelivered',
        ),
      );
  }

  private retry<T>(stage: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, {
      stage,
      isStopping: this.d.isStopping,
      onRetry: (s, attempt, err, waitMs) => {
        this.d.metrics.retries.inc({ stage: s });
        this.d.log.warn(
          { stage: s, attempt, waitMs, err: err.message },
          `${s} failed; retrying (looks stay unacknowledged)`,
        );
      },
    });
  }

  /** One batch of looks: read the records, complete those that are over, re-arm the others, ack. */
  async look(batch: Look[]): Promise<void> {
    const now = (this.d.now ?? Date.now)();
    const names = batch.map((l) => ({ agent: l.message.agent, key: l.message.key }));
    const reads = await this.retry('sweep-read', () => this.d.store.read(names));
    const decisions: SweepDecision[] = batch.map((l, i) => decideSweep(l.message, reads[i]!, now, this.s.timeouts));

    const toClaim: number[] = [];
    for (const [i, d] of decisions.entries()) if (d.kind === 'complete' && !d.claimed) toClaim.push(i);
    const claimed = await this.retry('sweep-claim', () =>
      this.d.store.claim(
        toClaim.map((i) => {
          const d = decisions[i] as Extract<SweepDecision, { kind: 'complete' }>;
          return { ...names[i]!, version: d.stored.version };
        }),
      ),
    );
    const completing: number[] = [];
    const rearm: number[] = [];
    for (const [i, d] of decisions.entries()) {
      if (d.kind === 'complete' && d.claimed) completing.push(i);
      if (d.kind === 'wait') rearm.push(i);
      if (d.kind === 'gone') this.d.metrics.recordSweeps.inc({ outcome: 'gone' });
      if (d.kind === 'corrupt') {
        this.d.metrics.recordSweeps.inc({ outcome: 'corrupt' });
        this.d.log.error(
          { code: 'worker.record-corrupt', why: d.why },
          'a connection record does not parse; its row is not completed',
        );
      }
    }
    for (const [j, ok] of claimed.entries()) {
      // A record that changed since it was read took a packet meanwhile: the connection goes on.
      if (ok) completing.push(toClaim[j]!);
      else rearm.push(toClaim[j]!);
    }

    const completions: RowCompletion[] = completing.map((i) => {
      const d = decisions[i] as Extract<SweepDecision, { kind: 'complete' }>;
      return { ...names[i]!, occurrence: batch[i]!.message.occurrence, record: d.record };
    });
    const found = await this.retry('complete', () => completeRows(this.d.pool, completions));
    for (const ok of found) this.d.metrics.recordSweeps.inc({ outcome: ok ? 'completed' : 'no-row' });
    const gone = batch
      .filter((_, i) => decisions[i]!.kind === 'gone')
      .map((l) => ({ agent: l.message.agent, key: l.message.key, occurrence: l.message.occurrence }));
    const closed = await this.retry('close', () => closeRowsWithoutRecord(this.d.pool, gone));
    this.d.metrics.recordSweeps.inc({ outcome: 'closed-without-record' }, closed.filter(Boolean).length);
    await this.retry('sweep-release', () =>
      this.d.store.release(
        completions.map((c) => ({ agent: c.agent, key: c.key, occurrence: c.occurrence })),
        this.s.doneTtlSeconds,
      ),
    );
    const again = rearm.map((i) => ({ ...batch[i]!.message, look: batch[i]!.message.look + 1 }));
    await this.retry('sweep-rearm', async () => {
      await this.d.store.keepDone(again, this.holdSeconds);
      await this.publish(again);
    });
    this.d.metrics.recordSweeps.inc({ outcome: 'rearmed' }, again.length);
    for (const l of batch) {
      // A channel lost meanwhile handed its messages back to RabbitMQ already: they are looked at again.
      try {
        l.channel.ack(l.msg);
      } catch {}
    }
  }

  async stop(timeoutMs: number): Promise<void> {
    this.amqp.stopReconnecting();
    const link = this.amqp.link;
    if (link) await link.channel.cancel(link.value.consumerTag).catch(() => {});
    this.flush();
    await Promise.race([this.running, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    await this.amqp.close();
  }
}
