// The Kafka side: a consumer group on the sniffer_config change topic. Partitions are keyed by agent, so events of
// one agent are applied in order; each event's offset is committed only after ZooKeeper (and agent_status) hold
// its effect, so that a crash replays events rather than losing them. A malformed message is counted, logged and
// skipped (it can never succeed); a failing server is retried, holding the partition, for a bounded time
// (apply-retry.ts): then the partition is given back and the consumer rejoins, or an event that can never be applied is
// dead-lettered.
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay } from '@fleetcap/lib/runtime/backoff';
import type { Check } from '@fleetcap/lib/runtime/health';
import type { Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import { type ApplyRetryPolicy, afterFailure, defaultApplyRetryPolicy, PartitionReleasedError } from './apply-retry.ts';
import { ChangeEventError, parseChangeMessage } from './change-event.ts';
import type { ConfigSyncMetrics } from './metrics.ts';
import type { ZkMirror } from './zk-mirror.ts';

export interface SyncConsumerOptions {
  topic: string;
  fromBeginning: boolean;
  table: string;
  database: string;
  /**
   * Called after every (re)join of the group, once the first fetch after it has returned: by then the consumer's
   * start offsets are settled (a new group's "latest" is resolved at that fetch), so a table read made after this
   * call, together with the stream from those offsets, misses nothing.
   */
  onPositioned?: () => void;
  /** Called when the consumer crashed and kafkajs will not restart it: the process should exit and be restarted. */
  onFatal?: (err: Error) => void;
  /**
   * Events applied side by side, and committed together once all are applied (so at most this many are replayed
   * after a crash); also committed at the end of every batch.
   */
  commitEvery: number;
  /** How long a failing event is retried (default: defaultApplyRetryPolicy). */
  retry?: ApplyRetryPolicy;
}

export class SyncConsumer {
  private stopping = false;
  private joined = false;
  private crashed: string | null = null;
  private awaitingFirstFetch = false;
  private positioned!: () => void;
  /** Resolves once the consumer has joined the group and fetched from its start offsets for the first time. */
  readonly ready = new Promise<void>((resolve) => {
    this.positioned = resolve;
  });

  constructor(
    private readonly consumer: Consumer,
    private readonly mirror: ZkMirror,
    private readonly metrics: ConfigSyncMetrics,
    private readonly log: Logger,
    private readonly options: SyncConsumerOptions,
  ) {
    const ev = consumer.events;
    consumer.on(ev.GROUP_JOIN, (e) => {
      this.joined = true;
      // Another member may have written this member's new partitions' nodes meanwhile: read before writing again.
      this.mirror.forgetKnown();
      this.crashed = null;
      this.awaitingFirstFetch = true;
      this.log.info(
        { memberId: e.payload.memberId, assignment: e.payload.memberAssignment },
        'joined the consumer group',
      );
    });
    consumer.on(ev.FETCH, () => {
      if (!this.awaitingFirstFetch) return;
      this.awaitingFirstFetch = false;
      this.positioned();
      this.options.onPositioned?.();
    });
    consumer.on(ev.CRASH, (e) => {
      this.joined = false;
      this.crashed = e.payload.error.message;
      this.log.error({ err: e.payload.error.message, restart: e.payload.restart }, 'Kafka consumer crashed');
      if (!e.payload.restart && !this.stopping) this.options.onFatal?.(e.payload.error);
    });
    consumer.on(ev.DISCONNECT, () => {
      this.joined = false;
    });
    consumer.on(ev.COMMIT_OFFSETS, (e) => this.log.debug({ topics: e.payload.topics }, 'offsets committed'));
    consumer.on(ev.STOP, () => {
      this.joined = false;
    });
  }

  /** Kafka health for /healthz. */
  health(): Check {
    if (this.crashed) return `down: ${this.crashed}`;
    return this.joined ? 'ok' : 'down: not a member of the consumer group (yet)';
  }

  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.options.topic, fromBeginning: this.options.fromBeginning });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 16,
      eachBatch: (payload) => this.eachBatch(payload),
    });
  }

  /** Finishes the event in hand, commits it, leaves the group and disconnects. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.consumer.disconnect();
  }

  private async eachBatch({
    batch,
    resolveOffset,
    heartbeat,
    isRunning,
    isStale,
    commitOffsetsIfNecessary,
  }: EachBatchPayload): Promise<void> {
    // Offsets are committed only for events whose effect ZooKeeper already holds: after every few events, at the
    // end of the batch, and before returning early (stopping, rebalance). A crash replays at most the uncommitted
    // tail, which the revision checks make harmless.
    let uncommitted: string | null = null;
    let sinceCommit = 0;
    let lastCommit = Date.now();
    const commit = async () => {
      if (uncommitted === null) return;
      // Through the batch's own commit: consumer.commitOffsets() is a silent no-op once kafkajs is stopping, which
      // would leave the events applied during a graceful stop uncommitted (and replayed by the next owner).
      await commitOffsetsIfNecessary({
        topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: uncommitted }] }],
      });
      this.metrics.lag.set(
        { partition: String(batch.partition) },
        Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(uncommitted))),
      );
      uncommitted = null;
      sinceCommit = 0;
      lastCommit = Date.now();
    };
    try {
      // The events of a window are applied side by side (fleet scale: one UPDATE of 1,000 agents is 1,000 events on
      // three partitions, and one at a time they took a ZooKeeper round trip each, tens of seconds in all). Events of
      // one agent keep their order: each reaches the mirror's per-agent lock (zk-mirror.ts) synchronously, in offset
      // order. The window is committed once every event of it is applied.
      const window = Math.max(1, this.options.commitEvery);
      for (let start = 0; start < batch.messages.length; start += window) {
        if (this.stopping || !isRunning() || isStale()) break;
        const messages = batch.messages.slice(start, start + window);
        // The first event to give up (the partition released, the group gone) ends its siblings' retries too.
        const giveUp = new AbortController();
        const settled = await Promise.allSettled(
          messages.map((m) =>
            this.handleWithRetry(m, batch.partition, heartbeat, giveUp).catch((err: unknown) => {
              giveUp.abort();
              throw err;
            }),
          ),
        );
        const failure = settled.find((r) => r.status === 'rejected');
        if (failure) throw failure.reason; // not committed: replayed after the rejoin
        if (settled.some((r) => r.status === 'fulfilled' && !r.value)) break; // stopping: the next owner replays it
        const last = messages[messages.length - 1]!;
        resolveOffset(last.offset);
        uncommitted = (BigInt(last.offset) + 1n).toString();
        sinceCommit += messages.length;
        if (sinceCommit >= this.options.commitEvery || Date.now() - lastCommit >= 200) await commit();
        await heartbeat();
      }
    } finally {
      if (!isStale()) await commit();
    }
  }

  /**
   * Applies one event, retrying failures (apply-retry.ts): true once applied or dead-lettered, false when stopping;
   * throws to give the partition back (retried too long, or the group moved on: a heartbeat was refused).
   */
  private async handleWithRetry(
    message: KafkaMessage,
    partition: number,
    heartbeat: () => Promise<void>,
    giveUp: AbortController,
  ): Promise<boolean> {
    const policy = this.options.retry ?? defaultApplyRetryPolicy;
    const startedAt = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        await this.handle(message, partition);
        return true;
      } catch (err) {
        if (this.stopping || giveUp.signal.aborted) return false;
        const reason = (err as Error).message;
        const decision = afterFailure(err, attempt, startedAt, Date.now(), policy);
        if (decision.action === 'dead-letter') {
          this.metrics.events.inc({ outcome: 'dead-lettered', format: 'unknown' });
          this.log.error(
            {
              code: 'config-sync.event-dead-lettered',
              err: reason,
              partition,
              offset: message.offset,
              key: message.key?.toString('utf8'),
              attempts: attempt,
            },
            `change event not applied after ${attempt} attempts (the server refuses it: ${reason}); skipped, the next reconcile writes the row again`,
          );
          return true;
        }
        if (decision.action === 'release') {
          this.metrics.partitionsReleased.inc({ reason: 'retries-exhausted' });
          this.log.error(
            {
              code: 'config-sync.partition-released',
              err: reason,
              partition,
              offset: message.offset,
              attempts: attempt,
              retriedMs: Date.now() - startedAt,
            },
            `could not apply a change event for ${Date.now() - startedAt} ms (${reason}); giving the partition back to fetch it again and rejoin`,
          );
          throw new PartitionReleasedError(`partition ${partition} offset ${message.offset}: ${reason}`);
        }
        const delay = backoffDelay(attempt, { baseMs: 200, maxMs: 5000 });
        this.log.warn(
          { err: reason, partition, offset: message.offset, attempt, retryInMs: delay },
          'could not apply a change event; retrying',
        );
        try {
          await sleep(delay, undefined, { signal: giveUp.signal });
        } catch {
          return false; // a sibling gave the partition back
        }
        if (this.stopping) return false;
        try {
          await heartbeat();
        } catch (hbErr) {
          // The coordinator dropped this member or the group rebalances: kafkajs rejoins once eachBatch throws this.
          this.metrics.partitionsReleased.inc({ reason: 'membership-lost' });
          this.log.warn(
            {
              code: 'config-sync.group-membership-lost',
              err: (hbErr as Error).message,
              partition,
              offset: message.offset,
            },
            'the consumer group moved on while a change event was retried; rejoining (the event is replayed)',
          );
          throw hbErr;
        }
      }
    }
  }

  private async handle(message: KafkaMessage, partition: number): Promise<void> {
    let parsed: ReturnType<typeof parseChangeMessage>;
    try {
      parsed = parseChangeMessage(message.value, { table: this.options.table, database: this.options.database });
    } catch (err) {
      if (!(err instanceof ChangeEventError)) throw err;
      this.metrics.events.inc({ outcome: 'malformed', format: 'unknown' });
      this.log.error(
        {
          err: err.message,
          partition,
          offset: message.offset,
          key: message.key?.toString('utf8'),
          value: message.value?.toString('utf8').slice(0, 2000),
        },
        'malformed change event skipped',
      );
      return;
    }
    if (parsed.kind === 'ignored') {
      this.metrics.events.inc({ outcome: 'ignored', format: 'unknown' });
      this.log.debug({ partition, offset: message.offset, reason: parsed.reason }, 'message ignored');
      return;
    }
    for (const change of parsed.changes) {
      const outcome = await this.mirror.apply(change);
      this.metrics.events.inc({ outcome, format: change.format });
      if (change.sourceTsMs !== null && outcome !== 'stale' && outcome !== 'unchanged') {
        this.metrics.propagationSeconds.observe(Math.max(0, (Date.now() - change.sourceTsMs) / 1000));
      }
      const level = outcome === 'invalid' ? 'warn' : 'info';
      this.log[level](
        {
          agentId: change.agentId,
          op: change.op,
          revision: change.revision,
          outcome,
          partition,
          offset: message.offset,
        },
        'change event applied',
      );
    }
  }
}
