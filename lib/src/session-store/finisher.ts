// After the verdict rows are committed: done markers set, session keys freed (one pipelined round).
import { readFileSync } from 'node:fs';
import { sessionKeys } from '@fleetcap/lib/session-store/layout';
import type { Redis } from 'ioredis';

const finishScript = readFileSync(new URL('./commands/finish-session.lua', import.meta.url), 'utf8');

interface FinishCommand {
  finishSession(packets: string, meta: string, batches: string, done: string, occurrence: string, ttl: string): void;
}

export class SessionFinisher {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly doneTtlSeconds: number,
  ) {
    redis.defineCommand('finishSession', { numberOfKeys: 4, lua: finishScript });
  }

  async finish(sessions: Array<{ key: string; occurrence: number }>): Promise<void> {
    if (sessions.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const s of sessions) {
      const k = sessionKeys(s.key, this.prefix);
      (pipeline as unknown as FinishCommand).finishSession(
        k.packets,
        k.meta,
        k.batches,
        k.done,
        String(s.occurrence),
        String(this.doneTtlSeconds),
      );
    }
    const results = (await pipeline.exec()) ?? [];
    for (const [err] of results) if (err) throw err;
  }
}
