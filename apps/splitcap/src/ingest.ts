// One uploaded batch, end to end: decode, store every session in Redis, publish what must be scheduled,
// and only then report success. A batch retried after any failure adds no packet twice (the append
// script is idempotent per batch id) and loses no schedule (a retried session returns the reasons it
// decided the first time, which are published again; the worker tolerates duplicates).
import type { SessionMessage } from '@fleetcap/lib/queue/session-message';
import type { RedisClient } from '@fleetcap/lib/redis/connect';
import type { AppendOutcome, SessionWriter } from '@fleetcap/lib/session-store/writer';
import type { BatchAccepted } from '@fleetcap/lib/upload/batch-upload';
import { type DecodedBatch, decodeBatch, WIRE_BELOW_CAPTURED, WIRE_OVER_MAX } from './batch-decoder.ts';
import type { ConnectionRecorder } from './connection-recorder.ts';
import { batchDrops, dropsForReceipt } from './drop-counts.ts';
import type { SplitcapMetrics } from './metrics.ts';
import type { Scheduler } from './scheduler.ts';

/** The 202 answer of the upload contract, less the batch id the handler adds. */
export type IngestResult = Omit<BatchAccepted, 'batchId'>;

export interface IngestOptions {
  /** FLEETCAP_COMMUNITY_ID_SEED. */
  communityIdSeed?: number;
  /** FLEETCAP_STORED_FRAME_BYTES. */
  storedFrameBytes?: number;
  /** FLEETCAP_SPLITCAP_MAX_SESSIONS_PER_BATCH. */
  maxSessionsPerBatch?: number;
  /** FLEETCAP_SESSION_MAX_PACKETS: the batch is trimmed to what the append script can keep. */
  maxPacketsPerSession?: number;
  now?: () => number;
  /** Follows every packet of each session's connection into its record (connection-recorder.ts). */
  recorder?: ConnectionRecorder;
  /** Where a batch's dropped packets are counted with its receipt (drop-counts.ts); without it, in the metric only. */
  drops?: { redis: RedisClient; prefix: string };
}

/** Every session a batch holds is the uploading agent's own: `agent` is part of each session's identity. */
export class Ingest {
  private readonly now: () => number;
  private readonly communityIdSeed: number | undefined;
  private readonly storedFrameBytes: number | undefined;
  private readonly recorder: ConnectionRecorder | undefined;
  private readonly maxSessionsPerBatch: number | undefined;
  private readonly maxPacketsPerSession: number | undefined;
  private readonly drops: IngestOptions['drops'];

  constructor(
    private readonly store: SessionWriter,
    private readonly scheduler: Scheduler,
    private readonly metrics: SplitcapMetrics,
    options: IngestOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.communityIdSeed = options.communityIdSeed;
    this.storedFrameBytes = options.storedFrameBytes;
    this.recorder = options.recorder;
    this.maxSessionsPerBatch = options.maxSessionsPerBatch;
    this.maxPacketsPerSession = options.maxPacketsPerSession;
    this.drops = options.drops;
  }

  async ingest(agent: string, batchId: string, body: Buffer): Promise<IngestResult> {
    const batch = decodeBatch(
      body,
      this.communityIdSeed,
      this.storedFrameBytes,
      this.maxSessionsPerBatch,
      undefined,
      this.maxPacketsPerSession,
    );
    const earlier = await this.store.earlierAttempt(agent, batchId);
    if (earlier.kind === 'received') {
      this.metrics.batches.inc({ outcome: 'duplicate' });
      return { ...this.summary(batch), duplicate: true };
    }
    // The packet store first, then the connection records: a record lists a batch id only once the append ran for
    // it, which is how the append script knows a retried batch whose occurrence is finished already. An attempt that
    // stopped after its append is resumed with what that append decided (writeApplied): appending again after the
    // occurrence was finished would store the packets a second time.
    let outcomes: AppendOutcome[];
    if (earlier.kind === 'applied') {
      outcomes = earlier.outcomes;
    } else {
      outcomes = await this.store.append(agent, batchId, batch.sessions.values());
      await this.store.writeApplied(agent, batchId, outcomes);
    }
    // The record writes, unless the earlier attempt got through them (then what they left out is known): once a
    // record is completed and removed, writing again would count the packets it took as stragglers.
    let recordLeftOut: Map<string, number> | undefined;
    let recordEnded: Map<string, number> | undefined;
    if (earlier.kind === 'applied' && earlier.recordLeftOut) {
      recordLeftOut = earlier.recordLeftOut;
      recordEnded = earlier.recordEnded;
    } else if (this.recorder) {
      recordLeftOut = new Map<string, number>();
      recordEnded = new Map<string, number>();
      // Each session's packets go to the record of the occurrence its append stored them in, and to no other: a retry
      // resumed long after its append may find a newer occurrence, whose record must not count them.
      const appendedTo = new Map(outcomes.map((o) => [o.key, o.status === 'done' ? 0 : o.occurrence]));
      await this.recorder.record(agent, batchId, [...batch.sessions.values()], recordLeftOut, appendedTo, recordEnded);
      await this.store.writeApplied(agent, batchId, outcomes, recordLeftOut, recordEnded);
    }
    const enqueuedAt = this.now();
    const messages: SessionMessage[] = [];
    const result = this.summary(batch);
    let duplicateSessions = 0;
    for (const o of outcomes) {
      if (o.status === 'dup') duplicateSessions++;
      if (o.status === 'done') result.skipped.sessionDone += o.dropped;
      if (o.status === 'ok') result.skipped.overMax += o.dropped;
      result.packetsStored += o.appended;
      for (const reason of o.reasons) {
        messages.push({
          key: o.key,
          agent,
          communityId: o.communityId,
          reason,
          occurrence: o.occurrence,
          enqueuedAt,
        });
        result.scheduled[reason] = (result.scheduled[reason] ?? 0) + 1;
      }
    }
    await this.scheduler.publish(messages);
    const drops = batchDrops(
      { ...batch.skipped, [WIRE_BELOW_CAPTURED]: batch.wireBelowCaptured, [WIRE_OVER_MAX]: batch.wireOverMax },
      outcomes,
      recordLeftOut,
      recordEnded,
    );
    await this.store.writeReceipt(
      agent,
      batchId,
      JSON.stringify({ sessions: outcomes.length, at: enqueuedAt }),
      this.drops ? await dropsForReceipt(this.drops.redis, this.drops.prefix, agent, drops, enqueuedAt) : undefined,
    );
    for (const [reason, n] of Object.entries(drops)) this.metrics.dropped.inc({ reason }, n);

    result.duplicate = outcomes.length > 0 && duplicateSessions === outcomes.length;
    this.metrics.batches.inc({
      outcome: result.duplicate ? 'duplicate' : earlier.kind === 'applied' ? 'resumed' : 'stored',
    });
    this.metrics.packets.inc({ fate: 'stored' }, result.packetsStored);
    this.metrics.packets.inc({ fate: 'over-max' }, result.skipped.overMax);
    this.metrics.packets.inc({ fate: 'session-done' }, result.skipped.sessionDone);
    for (const [reason, n] of Object.entries(batch.skipped))
      if (n) this.metrics.packets.inc({ fate: `skipped-${reason}` }, n);
    if (batch.wireBelowCaptured)
      this.metrics.packets.inc({ fate: `skipped-${WIRE_BELOW_CAPTURED}` }, batch.wireBelowCaptured);
    if (batch.wireOverMax) this.metrics.packets.inc({ fate: `skipped-${WIRE_OVER_MAX}` }, batch.wireOverMax);
    for (const [reason, n] of Object.entries(result.scheduled)) this.metrics.scheduled.inc({ reason }, n);
    return result;
  }

  private summary(batch: DecodedBatch): IngestResult {
    return {
      duplicate: false,
      packetsRead: batch.packetsRead,
      packetsStored: 0,
      sessions: batch.sessions.size,
      scheduled: {},
      skipped: {
        ...batch.skipped,
        ...(batch.wireBelowCaptured ? { [WIRE_BELOW_CAPTURED]: batch.wireBelowCaptured } : {}),
        ...(batch.wireOverMax ? { [WIRE_OVER_MAX]: batch.wireOverMax } : {}),
        overMax: 0,
        sessionDone: 0,
      },
      ...(batch.timeOutOfRange
        ? { timeOutOfRange: { earliestSec: batch.timeOutOfRange.minSec, latestSec: batch.timeOutOfRange.maxSec } }
        : {}),
    };
  }
}
