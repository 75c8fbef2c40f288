// The Redis half of bench/detectors: RedisDetector fed batches as the detector app feeds it, and Redis' memory per
// tracked subject. Every key is under its own prefix, removed afterwards.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_DETECTOR_BATCH_SIZE } from '@fleetcap/detector/config';
import { RedisDetector } from '@fleetcap/detector/redis-detector';
import { defaultDetectorConfig } from '@fleetcap/lib/detectors/config';
import type { DetectorSession } from '@fleetcap/lib/detectors/detector-session';
import { decodeVerdictEvent, encodeVerdictEvent } from '@fleetcap/lib/detectors/verdict-event';
import { Redis } from 'ioredis';
import { redisKeysWithPrefix } from '../../test/helpers/namespace.ts';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds (user + system, all threads) of a process from /proc/<pid>/stat; `children` adds waited-for children. */
export function procCpuSeconds(pid: number | 'self', children = false): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0);
  return ticks / TICKS_PER_SECOND;
}

/** The detector code measured: this checkout's, or another checkout's (`--baseline`), loaded from its sources. */
export interface DetectorImplementation {
  RedisDetector: new (
    redis: Redis,
    prefix: string,
  ) => { process: (sessions: DetectorSession[], config: ReturnType<typeof defaultDetectorConfig>) => Promise<Outcome> };
  decodeVerdictEvent: (body: Buffer) => DetectorSession;
}

interface Outcome {
  observations: Record<string, number>;
}

export const THIS_CHECKOUT: DetectorImplementation = { RedisDetector, decodeVerdictEvent };

/** The implementation of the checkout at `root` (its own lib, through its node_modules). */
export async function implementationAt(root: string): Promise<DetectorImplementation> {
  const detector = await import(resolve(root, 'apps/detector/src/redis-detector.ts'));
  const events = await import(resolve(root, 'lib/src/detectors/verdict-event.ts'));
  return { RedisDetector: detector.RedisDetector, decodeVerdictEvent: events.decodeVerdictEvent };
}

export class DetectorRedis {
  private readonly redis: Redis;

  private redisPid = 0;

  constructor(
    url: string,
    private readonly impl: DetectorImplementation = THIS_CHECKOUT,
    /** Sessions per batch: the detector app's default (FLEETCAP_DETECTOR_BATCH_SIZE) unless told. */
    private readonly batch: number = DEFAULT_DETECTOR_BATCH_SIZE,
  ) {
    this.redis = new Redis(url);
  }

  /** redis-server's pid (the local stack's Redis runs on this machine, so its /proc is readable). */
  async serverPid(): Promise<number> {
    if (this.redisPid === 0) {
      this.redisPid = Number(/^process_id:(\d+)/m.exec(await this.redis.info('server'))?.[1]);
    }
    return this.redisPid;
  }

  private async clear(prefix: string): Promise<void> {
    const keys = await redisKeysWithPrefix(this.redis, prefix);
    // DEL, not UNLINK: memory freed in the background would show up in the next measurement.
    for (let i = 0; i < keys.length; i += 5000) await this.redis.del(...keys.slice(i, i + 5000));
  }

  async throughput(
    sessions: DetectorSession[],
    prefix: string,
    config = defaultDetectorConfig(),
  ): Promise<{
    sessionsPerSecond: number;
    sessionsPerCoreSecond: number;
    observationsPerSecond: number;
    detectorCpuSeconds: number;
    redisCpuSeconds: number;
  }> {
    const detector = new this.impl.RedisDetector(this.redis, prefix);
    // The messages as the worker publishes them: decoding them is the detector process's work too.
    const bodies = sessions.map(encodeVerdictEvent);
    const pid = await this.serverPid();
    const redisBefore = procCpuSeconds(pid);
    const selfBefore = procCpuSeconds('self');
    const started = performance.now();
    let observations = 0;
    for (let i = 0; i < bodies.length; i += this.batch) {
      const batch = bodies.slice(i, i + this.batch).map((b) => this.impl.decodeVerdictEvent(b));
      const outcome = await detector.process(batch, config);
      observations += Object.values(outcome.observations).reduce((a, b) => a + b, 0);
    }
    const seconds = (performance.now() - started) / 1000;
    const redisSeconds = procCpuSeconds(pid) - redisBefore;
    const selfSeconds = procCpuSeconds('self') - selfBefore;
    await this.clear(prefix);
    return {
      sessionsPerSecond: sessions.length / seconds,
      sessionsPerCoreSecond: sessions.length / (selfSeconds + redisSeconds),
      observationsPerSecond: observations / seconds,
      detectorCpuSeconds: selfSeconds,
      redisCpuSeconds: redisSeconds,
    };
  }

  async memoryPerSubject(sessions: DetectorSession[], prefix: string): Promise<number> {
    const used = async () => Number(/^used_memory:(\d+)/m.exec(await this.redis.info('memory'))?.[1]);
    const detector = new this.impl.RedisDetector(this.redis, prefix);
    const before = await used();
    let subjects = 0;
    const seen = new Set<string>();
    for (let i = 0; i < sessions.length; i += this.batch)
      await detector.process(sessions.slice(i, i + this.batch), defaultDetectorConfig());
    for (const s of sessions) seen.add(s.src);
    subjects = seen.size;
    const bytes = (await used()) - before;
    await this.clear(prefix);
    return bytes / subjects;
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
