// The session-worker's last step on the session store, after the verdict rows are committed: done markers set,
// session keys freed (the finish script, one pipelined round). Each session is an agent's: agent, key, occurrence.
import type { Redis } from 'ioredis';
import { sessionKeys } from './layout.ts';
import { defineSessionScripts, scriptPipeline } from './scripts.ts';

export class SessionFinisher {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly doneTtlSeconds: number,
  ) {
    defineSessionScripts(redis);
  }

  async finish(sessions: Array<{ agent: string; key: string; occurrence: number }>): Promise<void> {
    if (sessions.length === 0) return;
    const pipeline = scriptPipeline(this.redis);
    for (const s of sessions) {
      const k = sessionKeys(s, this.prefix);
      pipeline.finishSession(k.packets, k.meta, k.batches, k.done, String(s.occurrence), String(this.doneTtlSeconds));
    }
    const results = (await pipeline.exec()) ?? [];
    for (const [err] of results) if (err) throw err;
  }
}
