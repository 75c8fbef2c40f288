// The Redis side of ingest: one pipelined round of per-session append scripts per batch (each session's
// keys share a hash slot, so this also works on Redis Cluster), plus the per-agent batch receipts that
// make a retried upload cheap.
import { readFileSync } from 'node:fs';
import type { ScheduleReason } from '@fleetcap/lib/queue/session-message';
import { sessionKeys } from '@fleetcap/lib/session-store/layout';
import type { Redis } from 'ioredis';
import type { BatchSession } from './batch-decoder.ts';

const appendScript = readFileSync(new URL('./commands/append-session.lua', import.meta.url), 'utf8');

export interface StoreSettings {
  /** Redis key prefix (FLEETCAP_REDIS_PREFIX). */
  prefix: string;
  maxPacketsPerSession: number;
  sessionTtlSeconds: number;
  /** How long a batch receipt is kept: a retry within it is answered without touching the sessions. */
  receiptTtlSeconds: number;
}

export interface SessionOutcome {
  key: string;
  status: 'ok' | 'dup' | 'done';
  appended: number;
  dropped: number;
  reasons: ScheduleReason[];
  occurrence: number;
}

interface AppendCommand {
  appendSession(packets: string, meta: string, batches: string, done: string, ...args: string[]): Promise<unknown>;
}

export class SessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly settings: StoreSettings,
  ) {
    redis.defineCommand('appendSession', { numberOfKeys: 4, lua: appendScript });
  }

  private receiptKey(agent: string, batchId: string): string {
    return `${this.settings.prefix}:receipt:{${agent}}:${batchId}`;
  }

  /** True when this batch was stored and its messages published before. */
  async hasReceipt(agent: string, batchId: string): Promise<boolean> {
    return (await this.redis.exists(this.receiptKey(agent, batchId))) === 1;
  }

  async writeReceipt(agent: string, batchId: string, summary: string): Promise<void> {
    await this.redis.set(this.receiptKey(agent, batchId), summary, 'EX', this.settings.receiptTtlSeconds);
  }

  async append(agent: string, batchId: string, sessions: Iterable<BatchSession>): Promise<SessionOutcome[]> {
    const pipeline = this.redis.pipeline() as unknown as AppendCommand & {
      exec(): Promise<Array<[Error | null, unknown]> | null>;
    };
    const order: string[] = [];
    const fixed = [batchId, agent, String(this.settings.maxPacketsPerSession), String(this.settings.sessionTtlSeconds)];
    for (const s of sessions) {
      const k = sessionKeys(s.key, this.settings.prefix);
      void pipeline.appendSession(
        k.packets,
        k.meta,
        k.batches,
        k.done,
        ...fixed,
        String(s.firstSide),
        String(s.firstUs),
        String(s.lastUs),
        String(s.bytes),
        s.closing ? '1' : '0',
        ...s.args,
      );
      order.push(s.key);
    }
    if (order.length === 0) return [];
    const results = await pipeline.exec();
    if (!results) throw new Error('Redis pipeline was discarded');
    return results.map(([err, value], i) => {
      if (err) throw new Error(`append script failed for session ${order[i]}: ${err.message}`);
      const [status, appended, dropped, reasons, occurrence] = value as [string, number, number, string, string];
      return {
        key: order[i]!,
        status: status as SessionOutcome['status'],
        appended,
        dropped,
        reasons: reasons ? (reasons.split(',') as ScheduleReason[]) : [],
        occurrence: Number(occurrence),
      };
    });
  }
}
