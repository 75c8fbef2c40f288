// The session-worker's last step on the session store, after the verdict rows are committed: done markers set,
// session keys freed (the finish script, one pipelined round). Each session is an agent's: agent, key, occurrence.
import type { RedisClient } from '../redis/connect.ts';
import { pipelineByItem } from '../redis/slot-groups.ts';
import { sessionKeys } from './layout.ts';
import { defineSessionScripts, type SessionScriptPipeline } from './scripts.ts';

export class SessionFinisher {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly doneTtlSeconds: number,
  ) {
    defineSessionScripts(redis);
  }

  /** Returns the packets the sessions gained after their load (not in their verdicts: see the script). */
  async finish(
    sessions: Array<{ agent: string; key: string; occurrence: number; packetsSeen?: number }>,
  ): Promise<number> {
    const results = await pipelineByItem(
      this.redis,
      sessions,
      (s) => sessionKeys(s, this.prefix).packets,
      (pipeline, s) => {
        const k = sessionKeys(s, this.prefix);
        (pipeline as SessionScriptPipeline).finishSession(
          k.packets,
          k.meta,
          k.batches,
          k.done,
          String(s.occurrence),
          String(this.doneTtlSeconds),
          String(s.packetsSeen ?? 0),
        );
      },
    );
    let late = 0;
    for (const [i, item] of results.entries()) {
      const [err, value] = item[0]!;
      if (err) throw err;
      // Without packetsSeen the caller does not count; the script then reports every packet as late.
      if (sessions[i]!.packetsSeen !== undefined) late += Number((value as [number, number])[1] ?? 0);
    }
    return late;
  }
}
