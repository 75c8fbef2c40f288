// splitcap's side of the session store: one pipelined round of per-session append scripts per batch (each
// session's keys share a hash slot, so this also works on Redis Cluster), plus the per-agent batch receipts that
// make a retried upload cheap. Every session written is the uploading agent's own (keys named by agent and key).

import type { ScheduleReason } from '../queue/session-message.ts';
import type { RedisClient } from '../redis/connect.ts';
import { pipelineByItem } from '../redis/slot-groups.ts';
import { receiptKey, sessionKeys } from './layout.ts';
import { defineSessionScripts, type SessionScriptPipeline } from './scripts.ts';

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
  /**
   * Replicas that must have each append before it is acknowledged (FLEETCAP_REDIS_WAIT_REPLICAS; 0: the master's
   * word is enough). With 1, a master lost right after a 202 cannot take the batch with it.
   */
  waitReplicas?: number;
  /** How long to wait for them (FLEETCAP_REDIS_WAIT_TIMEOUT_MS). */
  waitTimeoutMs?: number;
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
    private readonly redis: RedisClient,
    private readonly settings: WriterSettings,
  ) {
    defineSessionScripts(redis);
  }

  /** True when this batch was stored and its messages published before. */
  async hasReceipt(agent: string, batchId: string): Promise<boolean> {
    return (await this.redis.exists(receiptKey(agent, batchId, this.settings.prefix))) === 1;
  }

  /**
   * The receipt, and with it (one MULTI: both or neither) the batch's counted drops added to the agent's drop hash
   * (`drops.key`, which must share the receipt's hash slot: layout.ts dropCountKey). A batch retried before its
   * receipt was written counts its drops once, at the attempt that writes the receipt.
   */
  async writeReceipt(
    agent: string,
    batchId: string,
    summary: string,
    drops?: { key: string; counts: Record<string, number>; ttlSeconds: number },
  ): Promise<void> {
    const receipt = receiptKey(agent, batchId, this.settings.prefix);
    const counted = drops ? Object.entries(drops.counts).filter(([, n]) => n > 0) : [];
    if (!drops || counted.length === 0) {
      await this.redis.set(receipt, summary, 'EX', this.settings.receiptTtlSeconds);
      return;
    }
    const multi = this.redis.multi().set(receipt, summary, 'EX', this.settings.receiptTtlSeconds);
    for (const [reason, n] of counted) multi.hincrby(drops.key, reason, n);
    multi.expire(drops.key, drops.ttlSeconds);
    const results = await multi.exec();
    const failed = results?.find(([err]) => err);
    // exec() is null only when a WATCH failed, and none is set: an error reply is the one failure here.
    if (failed?.[0]) throw failed[0];
  }

  async append(agent: string, batchId: string, sessions: Iterable<SessionAppend>): Promise<AppendOutcome[]> {
    const fixed = [batchId, agent, String(this.settings.maxPacketsPerSession), String(this.settings.sessionTtlSeconds)];
    const all = [...sessions];
    const results = await pipelineByItem(
      this.redis,
      all,
      (s) => sessionKeys({ agent, key: s.key }, this.settings.prefix).packets,
      (pipeline, s) => {
        const k = sessionKeys({ agent, key: s.key }, this.settings.prefix);
        (pipeline as SessionScriptPipeline).appendSession(
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
      },
      { replicas: this.settings.waitReplicas ?? 0, timeoutMs: this.settings.waitTimeoutMs ?? 1000 },
    );
    return results.map((item, i) => {
      const [err, value] = item[0]!;
      if (err) throw new Error(`append script failed for session ${all[i]!.key}: ${err.message}`);
      const [status, appended, dropped, reasons, occurrence, communityId] = value as [
        string,
        number,
        number,
        string,
        string,
        string,
      ];
      return {
        key: all[i]!.key,
        status: status as AppendOutcome['status'],
        appended,
        dropped,
        reasons: reasons ? (reasons.split(',') as ScheduleReason[]) : [],
        occurrence: Number(occurrence),
        communityId,
      };
    });
  }
}
