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

  /** Returns the packets the sessions gained after their load (not in their verdicts: see the script). */
  async finish(
    sessions: Array<{ agent: string; key: string; occurrence: number; packetsSeen?: number }>,
  ): Promise<number> {
    if (sessions.length === 0) return 0;
    const pipeline = scriptPipeline(this.redis);
    for (const s of sessions) {
      const k = sessionKeys(s, this.prefix);
      pipeline.finishSession(
        k.packets,
        k.meta,
        k.batches,
        k.done,
        String(s.occurrence),
        String(this.doneTtlSeconds),
        String(s.packetsSeen ?? 0),
      );
    }
    const results = (await pipeline.exec()) ?? [];
    let late = 0;
    for (const [i, [err, value]] of results.entries()) {
      if (err) throw err;
      // Without packetsSeen the caller does not count; the script then reports every packet as late.
      if (sessions[i]!.packetsSeen !== undefined) late += Number((value as [number, number])[1] ?? 0);
    }
    return late;
  }
}
