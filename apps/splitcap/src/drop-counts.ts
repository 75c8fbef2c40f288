// The packets of an acknowledged batch that reach no verdict and no connection record, counted per reason: in the
// metric fleetcap_splitcap_dropped_packets_total, and in MariaDB's packet_drop (sql/015) per 5-minute bucket, agent
// and reason. The counts travel through Redis first: they are written with the batch's receipt (one MULTI,
// SessionWriter.writeReceipt), so a batch retried after a crash or a 503 counts once, and a splitcap killed before
// its copy loses nothing. DropCopier copies each bucket's whole count so far into packet_drop (GREATEST keeps the
// larger: a copy repeated after a crash or a MariaDB outage never counts twice) and forgets a bucket once it is closed
// and copied.
import type { SkipReason } from '@fleetcap/lib/packet/decode';
import type { RedisClient } from '@fleetcap/lib/redis/connect';
import { dropCountKey, dropIndexKey, parseDropCountKey } from '@fleetcap/lib/session-store/layout';
import type { AppendOutcome } from '@fleetcap/lib/session-store/writer';
import type { Pool } from 'mysql2/promise';
import type { Logger } from 'pino';

export const DROP_BUCKET_SECONDS = 300;
/** A bucket takes no more counts this long after its end (a batch in flight at its end is answered by then). */
export const BUCKET_GRACE_SECONDS = 120;
/** Drop hashes outlive a MariaDB outage of this long; after it, their counts are in the metric only. */
export const DROP_KEY_TTL_SECONDS = 7 * 24 * 3600;

/** The reason of packets whose session was classified before they came, and whose record did not take them. */
export const STRAGGLER = 'straggler';

/**
 * The reason of packets that came after their session's occurrence was loaded for its verdict (or classified), and
 * that its connection record refused because it had ended: by Zeek's rules another connection began on the flow (a
 * capture gap longer than the inactivity timeout, a new SYN after a close). The pipeline keeps one occurrence per
 * agent's session key at a time, so that connection has no row until the old row is completed and its done marker
 * expired; its packets until then are counted here.
 */
export const NEW_CONNECTION = 'new-connection';

export function dropBucketStart(nowMs: number): number {
  const sec = Math.floor(nowMs / 1000);
  return sec - (sec % DROP_BUCKET_SECONDS);
}

/**
 * A batch's drops by reason: the packets its decoder skipped (`skipped-<reason>`: never sessionized), and per session
 * the packets the append script refused because the session is classified (status done) that its connection record
 * did not take either (`straggler`, or `new-connection` when the record refused them because it had ended). A session
 * loaded by the worker for its verdict is done for the append as a classified one is (append-session-5.lua). Packets the append refused but the record took are in the row; packets over the
 * stored maximum are in the verdict's count and the record: neither is a drop.
 */
export function batchDrops(
  skipped: Partial<Record<SkipReason | string, number>>,
  outcomes: readonly AppendOutcome[],
  recordLeftOut: ReadonlyMap<string, number> | undefined,
  /** Of recordLeftOut, what each session's record left out because it had ended (`new-connection`). */
  recordEnded?: ReadonlyMap<string, number>,
): Record<string, number> {
  const drops: Record<string, number> = {};
  for (const [reason, n] of Object.entries(skipped)) if (n) drops[`skipped-${reason}`] = n;
  let stragglers = 0;
  let newConnection = 0;
  for (const o of outcomes) {
    if (o.status !== 'done' || o.dropped === 0) continue;
    // Without a recorder no record takes anything.
    const leftOut = Math.min(o.dropped, recordLeftOut ? (recordLeftOut.get(o.key) ?? 0) : o.dropped);
    const ended = Math.min(leftOut, recordEnded?.get(o.key) ?? 0);
    stragglers += leftOut - ended;
    newConnection += ended;
  }
  if (stragglers > 0) drops[STRAGGLER] = stragglers;
  if (newConnection > 0) drops[NEW_CONNECTION] = newConnection;
  return drops;
}

/** What writeReceipt adds to the agent's drop hash of the current bucket (undefined when nothing dropped). */
export async function dropsForReceipt(
  redis: RedisClient,
  prefix: string,
  agent: string,
  drops: Record<string, number>,
  nowMs: number,
): Promise<{ key: string; counts: Record<string, number>; ttlSeconds: number } | undefined> {
  if (Object.keys(drops).length === 0) return undefined;
  const key = dropCountKey(agent, dropBucketStart(nowMs), prefix);
  // Indexed before it is written (another hash slot, so not in the MULTI): an index entry without counts is harmless.
  await redis.sadd(dropIndexKey(prefix), key);
  return { key, counts: drops, ttlSeconds: DROP_KEY_TTL_SECONDS };
}

export interface DropRow {
  bucketStart: Date;
  agent: string;
  reason: string;
  packets: number;
}

/** The packet_drop rows of one drop hash. */
export function dropRows(key: string, hash: Record<string, string>, prefix: string): DropRow[] {
  const at = parseDropCountKey(key, prefix);
  if (!at) return [];
  const rows: DropRow[] = [];
  for (const [reason, text] of Object.entries(hash)) {
    const packets = Number(text);
    if (Number.isSafeInteger(packets) && packets > 0)
      rows.push({ bucketStart: new Date(at.bucketStartSec * 1000), agent: at.agent, reason, packets });
  }
  return rows;
}

/** True once a bucket takes no more counts. */
export function bucketClosed(bucketStartSec: number, nowMs: number): boolean {
  return nowMs / 1000 > bucketStartSec + DROP_BUCKET_SECONDS + BUCKET_GRACE_SECONDS;
}

export interface DropCopierOptions {
  redis: RedisClient;
  pool: Pool;
  prefix: string;
  intervalMs: number;
  log: Logger;
  now?: () => number;
}

/** Copies the drop hashes into packet_drop every intervalMs; a failed copy is retried at the next round. */
export class DropCopier {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private lastError = '';
  /** When the last copy succeeded (ms), 0 before the first. */
  copiedAt = 0;

  constructor(private readonly o: DropCopierOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      // One round at a time; a failed round is logged by copyOnce and retried at the next tick.
      this.running = this.running
        .then(async () => {
          await this.copyOnce();
        })
        .catch(() => undefined);
    }, this.o.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    // The last counts, if MariaDB is there; otherwise the next splitcap copies them.
    await this.copyOnce().catch(() => {});
  }

  async copyOnce(): Promise<number> {
    const { redis, pool, prefix, log } = this.o;
    const now = (this.o.now ?? Date.now)();
    try {
      const keys = await redis.smembers(dropIndexKey(prefix));
      if (keys.length === 0) {
        this.copiedAt = now;
        return 0;
      }
      const hashes = await Promise.all(keys.map((k) => redis.hgetall(k)));
      const rows = keys.flatMap((k, i) => dropRows(k, hashes[i] ?? {}, prefix));
      for (let i = 0; i < rows.length; i += 500) {
        const chunk = rows.slice(i, i + 500);
        await pool.query(
          `INSERT INTO packet_drop (bucket_start, agent_id, reason, packets) VALUES ?
             ON DUPLICATE KEY UPDATE packets = GREATEST(packets, VALUES(packets))`,
          [
            chunk.map((r) => [
              r.bucketStart.toISOString().slice(0, 19).replace('T', ' '),
              r.agent,
              r.reason,
              r.packets,
            ]),
          ],
        );
      }
      // A closed bucket copied in full is forgotten; an unparsable or vanished key too.
      const done = keys.filter((k, i) => {
        const at = parseDropCountKey(k, prefix);
        return !at || Object.keys(hashes[i] ?? {}).length === 0 || bucketClosed(at.bucketStartSec, now);
      });
      if (done.length > 0) {
        await redis.srem(dropIndexKey(prefix), ...done);
        await redis.unlink(...done);
      }
      this.copiedAt = now;
      this.lastError = '';
      return rows.length;
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.lastError)
        log.warn(
          { code: 'splitcap.drops-copy-failed', err: message },
          'cannot copy the dropped-packet counts into packet_drop; they stay in Redis and are copied at the next round',
        );
      this.lastError = message;
      throw err;
    }
  }
}
