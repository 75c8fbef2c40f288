// splitcap's side of the session store: one pipelined round of per-session append scripts per batch (each
// session's keys share a hash slot, so this also works on Redis Cluster), plus the per-agent batch receipts that
// make a retried upload cheap. Every session written is the uploading agent's own (keys named by agent and key).
import type { Redis } from 'ioredis';
import type { ScheduleReason } from '../queue/session-message.ts';
import { receiptKey, sessionKeys } from './layout.ts';
import type { PipelineStep } from './record-store.ts';
import { defineSessionScripts, scriptPipeline } from './scripts.ts';

/** One batch's packets of one session, prepared for the append script (see its header). */
export interface SessionAppend {
  key: string;
  /** Community ID v1 of the session's 5-tuple, with splitcap's seed. */
  communityId: string;
  /** Canonical side (0 = endpoint a of the key) that sent this batch's first packet of the session. */
  firstSide: 0 | 1;
  firstUs: number;
  lastUs: number;
  /** Wire bytes of the batch's packets of the session. */
  bytes: number;
  /** A packet carried TCP FIN or RST. */
  closing: boolean;
  /** Packets of the session in the batch; only the first of them (at most max packets per session) are in args. */
  packets: number;
  /**
   * Two values per packet, for at most the first max-packets-per-session packets: capture time µs, then
   * encodePacketRecordTail(...) (binary: it ends with the frame). Packets past those would never be kept.
   */
  args: (string | Buffer)[];
}

export interface WriterSettings {
  /** Redis key prefix (FLEETCAP_REDIS_PREFIX). */
  prefix: string;
  maxPacketsPerSession: number;
  sessionTtlSeconds: number;
  /** How long a batch receipt is kept: a retry within it is answered without touching the sessions. */
  receiptTtlSeconds: number;
}

export interface AppendOutcome {
  key: string;
  /** ok: stored; dup: this batch was applied before; done: the session is classified, nothing stored. */
  status: 'ok' | 'dup' | 'done';
  appended: number;
  dropped: number;
  reasons: ScheduleReason[];
  occurrence: number;
  /** The Community ID the occurrence recorded at its start ('' when the session is done). */
  communityId: string;
}

export class SessionWriter {
  constructor(
    private readonly redis: Redis,
    private readonly settings: WriterSettings,
  ) {
    defineSessionScripts(redis);
  }

  /** True when this batch was stored and its messages published before. */
  async hasReceipt(agent: string, batchId: string): Promise<boolean> {
    return (await this.redis.exists(receiptKey(agent, batchId, this.settings.prefix))) === 1;
  }

  async writeReceipt(agent: string, batchId: string, summary: string): Promise<void> {
    await this.redis.set(
      receiptKey(agent, batchId, this.settings.prefix),
      summary,
      'EX',
      this.settings.receiptTtlSeconds,
    );
  }

  async append(agent: string, batchId: string, sessions: Iterable<SessionAppend>): Promise<AppendOutcome[]> {
    return (await this.appendThen(agent, batchId, sessions)).outcomes;
  }

  /**
   * The appends, then `after`'s commands in the same pipeline: one round trip. Redis runs a connection's commands in
   * order, so `after` sees every append done (splitcap reads the connection records this way).
   */
  async appendThen<T = undefined>(
    agent: string,
    batchId: string,
    sessions: Iterable<SessionAppend>,
    after?: PipelineStep<T>,
  ): Promise<{ outcomes: AppendOutcome[]; after: T | undefined }> {
    const pipeline = scriptPipeline(this.redis);
    const order: string[] = [];
    const fixed = [batchId, agent, String(this.settings.maxPacketsPerSession), String(this.settings.sessionTtlSeconds)];
    for (const s of sessions) {
      const k = sessionKeys({ agent, key: s.key }, this.settings.prefix);
      pipeline.appendSession(
        k.packets,
        k.meta,
        k.batches,
        k.done,
        k.record,
        ...fixed,
        String(s.firstSide),
        String(s.firstUs),
        String(s.lastUs),
        String(s.bytes),
        s.closing ? '1' : '0',
        s.communityId,
        String(s.packets),
        ...s.args,
      );
      order.push(s.key);
    }
    if (order.length === 0) return { outcomes: [], after: undefined };
    after?.queue(pipeline);
    const results = await pipeline.exec();
    if (!results) throw new Error('Redis pipeline was discarded');
    const outcomes = results.slice(0, order.length).map(([err, value], i) => {
      if (err) throw new Error(`append script failed for session ${order[i]}: ${err.message}`);
      const [status, appended, dropped, reasons, occurrence, communityId] = value as [
        string,
        number,
        number,
        string,
        string,
        string,
      ];
      return {
        key: order[i]!,
        status: status as AppendOutcome['status'],
        appended,
        dropped,
        reasons: reasons ? (reasons.split(',') as ScheduleReason[]) : [],
        occurrence: Number(occurrence),
        communityId,
      };
    });
    return { outcomes, after: after?.read(results, order.length) };
  }
}
