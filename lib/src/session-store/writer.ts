// splitcap's side of the session store: one pipelined round of per-session append scripts per batch (each
// session's keys share a hash slot, so this also works on Redis Cluster), plus the per-agent batch receipts that
// make a retried upload cheap. Every session written is the uploading agent's own (keys named by agent and key).

import type { ScheduleReason } from '../queue/session-message.ts';
import type { RedisClient } from '../redis/connect.ts';
import { callPerSlot } from '../redis/slot-groups.ts';
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

export type EarlierAttempt =
  | { kind: 'none' }
  /** recordLeftOut: when the attempt also got through its record writes, what they left out per session key. */
  | {
      kind: 'applied';
      outcomes: AppendOutcome[];
      recordLeftOut?: Map<string, number>;
      /** Of recordLeftOut, what each session's record left out because it had ended (another connection began). */
      recordEnded?: Map<string, number>;
    }
  /** Stored, published and answered 202 (the receipt's summary). */
  | { kind: 'received' };

/**
 * The receipt's value while only the append has run: this prefix, then the outcomes (formatAppliedOutcomes); once the
 * record writes ran too, RECORDED_PREFIX, what they left out per session ([key, packets] JSON, or [key, packets, ended]
 * when some of them were left out because the record had ended), a newline, the outcomes.
 */
const APPLIED_PREFIX = 'applied:';
const RECORDED_PREFIX = 'recorded:';
const STATUSES = new Set<AppendOutcome['status']>(['ok', 'dup', 'done']);

/** The outcomes as JSON rows [key, status, appended, dropped, reasons, occurrence, communityId]. */
export function formatAppliedOutcomes(outcomes: readonly AppendOutcome[]): string {
  return JSON.stringify(
    outcomes.map((o) => [o.key, o.status, o.appended, o.dropped, o.reasons.join(','), o.occurrence, o.communityId]),
  );
}

/** formatAppliedOutcomes read back, or undefined when the text is not such rows. */
export function parseAppliedOutcomes(text: string): AppendOutcome[] | undefined {
  const rows = jsonArray(text);
  if (!rows) return undefined;
  const outcomes: AppendOutcome[] = [];
  for (const row of rows) {
    if (!Array.isArray(row) || row.length !== 7) return undefined;
    const [key, status, appended, dropped, reasons, occurrence, communityId] = row as unknown[];
    if (
      typeof key !== 'string' ||
      !STATUSES.has(status as AppendOutcome['status']) ||
      !Number.isSafeInteger(appended) ||
      !Number.isSafeInteger(dropped) ||
      typeof reasons !== 'string' ||
      !Number.isSafeInteger(occurrence) ||
      typeof communityId !== 'string'
    )
      return undefined;
    outcomes.push({
      key,
      status: status as AppendOutcome['status'],
      appended: appended as number,
      dropped: dropped as number,
      reasons: reasons ? (reasons.split(',') as ScheduleReason[]) : [],
      occurrence: occurrence as number,
      communityId,
    });
  }
  return outcomes;
}

/** The JSON array `text` holds, or undefined when it holds something else or is no JSON. */
function jsonArray(text: string): unknown[] | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function parseLeftOut(text: string): { leftOut: Map<string, number>; ended: Map<string, number> } | undefined {
  const rows = jsonArray(text);
  if (!rows) return undefined;
  const leftOut = new Map<string, number>();
  const ended = new Map<string, number>();
  for (const row of rows) {
    if (!Array.isArray(row) || typeof row[0] !== 'string' || !Number.isSafeInteger(row[1])) return undefined;
    if (row.length > 2 && !(Number.isSafeInteger(row[2]) && row[2] > 0 && row[2] <= row[1])) return undefined;
    leftOut.set(row[0], row[1] as number);
    if (row.length > 2) ended.set(row[0], row[2] as number);
  }
  return { leftOut, ended };
}

export class SessionWriter {
  constructor(
    private readonly redis: RedisClient,
    private readonly settings: WriterSettings,
  ) {
    defineSessionScripts(redis);
  }

  /**
   * What an earlier attempt of this batch left: nothing; the outcomes of its append, when it stopped after the append
   * (writeApplied: killed, or a 503 from RabbitMQ, Redis or a record conflict); or the receipt of an upload answered
   * 202 (writeReceipt). An unreadable applied receipt counts as none (the append's own batch ids then decide).
   */
  async earlierAttempt(agent: string, batchId: string): Promise<EarlierAttempt> {
    const text = await this.redis.get(receiptKey(agent, batchId, this.settings.prefix));
    if (text === null) return { kind: 'none' };
    if (text.startsWith(RECORDED_PREFIX)) {
      const newline = text.indexOf('\n');
      const left = parseLeftOut(text.slice(RECORDED_PREFIX.length, Math.max(newline, 0)));
      const outcomes = newline < 0 ? undefined : parseAppliedOutcomes(text.slice(newline + 1));
      return outcomes && left
        ? { kind: 'applied', outcomes, recordLeftOut: left.leftOut, recordEnded: left.ended }
        : { kind: 'none' };
    }
    if (!text.startsWith(APPLIED_PREFIX)) return { kind: 'received' };
    const outcomes = parseAppliedOutcomes(text.slice(APPLIED_PREFIX.length));
    return outcomes ? { kind: 'applied', outcomes } : { kind: 'none' };
  }

  /**
   * Records, under the batch's receipt key, that its append ran to the end and what it decided. A retry then resumes
   * after the append instead of running it again: once the session's occurrence is finished and its done marker has
   * expired, the append script could no longer tell the batch was applied and would store its packets in a second
   * occurrence (a second verdict with the same packets: found by the fault run).
   */
  async writeApplied(
    agent: string,
    batchId: string,
    outcomes: readonly AppendOutcome[],
    /**
     * After the record writes: what they left out per session. A retry then skips them too: once a record is completed
     * and removed, a record write repeated would count the packets it took as stragglers (counted drops in a row).
     */
    recordLeftOut?: ReadonlyMap<string, number>,
    /** Of recordLeftOut, what each session's record left out because it had ended. */
    recordEnded?: ReadonlyMap<string, number>,
  ): Promise<void> {
    const rows = recordLeftOut
      ? [...recordLeftOut].map(([key, n]) => {
          const ended = recordEnded?.get(key) ?? 0;
          return ended > 0 ? [key, n, ended] : [key, n];
        })
      : undefined;
    const value = rows
      ? `${RECORDED_PREFIX}${JSON.stringify(rows)}\n${formatAppliedOutcomes(outcomes)}`
      : APPLIED_PREFIX + formatAppliedOutcomes(outcomes);
    await this.redis.set(
      receiptKey(agent, batchId, this.settings.prefix),
      value,
      'EX',
      this.settings.receiptTtlSeconds,
    );
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

  /**
   * Stores the batch's sessions: one append-sessions.lua call per slot (on a single Redis: per batch) and at most
   * SESSIONS_PER_CALL sessions, all calls in one pipeline per master (a call passes its sessions' keys as KEYS, which
   * ioredis's Cluster client allows from one slot only), each session's packets packed into one
   * argument (packPackets). Outcomes in session order.
   */
  async append(agent: string, batchId: string, sessions: Iterable<SessionAppend>): Promise<AppendOutcome[]> {
    const fixed = [batchId, agent, String(this.settings.maxPacketsPerSession), String(this.settings.sessionTtlSeconds)];
    const all = [...sessions];
    const packetsKey = (s: SessionAppend) => sessionKeys({ agent, key: s.key }, this.settings.prefix).packets;
    const replies = await callPerSlot(
      this.redis,
      all,
      packetsKey,
      SESSIONS_PER_CALL,
      (pipeline, call) => {
        const keys: string[] = [];
        const argv: (string | Buffer)[] = [...fixed];
        for (const s of call) {
          const k = sessionKeys({ agent, key: s.key }, this.settings.prefix);
          keys.push(k.packets, k.meta, k.batches, k.done, k.record);
          argv.push(
            String(s.firstSide),
            String(s.firstUs),
            String(s.lastUs),
            String(s.bytes),
            s.closing ? '1' : '0',
            s.communityId,
            String(s.packets),
            String(s.args.length / 2),
            packPackets(s.args),
          );
        }
        (pipeline as SessionScriptPipeline).appendSessions(keys.length, ...keys, ...argv);
      },
      (call, err) =>
        new Error(`append script failed for the ${call.length} session(s) from ${call[0]!.key} on: ${err.message}`),
      { replicas: this.settings.waitReplicas ?? 0, timeoutMs: this.settings.waitTimeoutMs ?? 1000 },
    );
    return all.map((s, i) => appendOutcome(s.key, replies[i]));
  }
}

/**
 * Sessions per append-sessions.lua call: a call is atomic, so it holds its master for its whole length (about 1 ms per
 * 1,000 packets here); a sniffer's batch of thousands of sessions is sent as several calls of one pipeline.
 */
const SESSIONS_PER_CALL = 64;

function appendOutcome(key: string, reply: unknown): AppendOutcome {
  const [status, appended, dropped, reasons, occurrence, communityId] = reply as [
    string,
    number,
    number,
    string,
    string,
    string,
  ];
  return {
    key,
    status: status as AppendOutcome['status'],
    appended,
    dropped,
    reasons: reasons ? (reasons.split(',') as ScheduleReason[]) : [],
    occurrence: Number(occurrence),
    communityId,
  };
}

/**
 * A session's packets as the append script's one packed argument (append-session-5.lua ARGV[13]): per packet, the
 * capture time's text length (1 byte) and text, then the member's length (4 bytes, big-endian) and bytes. `args` is
 * SessionAppend.args (time, member, time, member, ...). One argument instead of two per packet: ioredis encodes and
 * Redis parses one bulk string per session, not forty.
 */
export function packPackets(args: readonly (string | Buffer)[]): Buffer {
  let size = 0;
  for (let i = 0; i < args.length; i += 2) size += 5 + (args[i] as string).length + args[i + 1]!.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < args.length; i += 2) {
    const score = args[i] as string;
    const member = args[i + 1]!;
    out[at] = score.length;
    at += 1 + out.write(score, at + 1, 'latin1');
    if (typeof member === 'string') {
      const length = Buffer.byteLength(member, 'latin1');
      out.writeUInt32BE(length, at);
      at += 4 + out.write(member, at + 4, 'latin1');
    } else {
      out.writeUInt32BE(member.length, at);
      out.set(member, at + 4);
      at += 4 + member.length;
    }
  }
  return out;
}
