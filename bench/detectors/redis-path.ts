// The Redis half of bench/detectors: RedisDetector fed batches as the detector app feeds it, and Redis' memory per
// tracked subject. Every key is under its own prefix, removed afterwards.
import { RedisDetector } from '@fleetcap/detector/redis-detector';
import { defaultDetectorConfig } from '@fleetcap/lib/detectors/config';
import type { DetectorSession } from '@fleetcap/lib/detectors/detector-session';
import { Redis } from 'ioredis';
import { redisKeysWithPrefix } from '../../test/helpers/namespace.ts';

const BATCH = 512;

function redisCpu(info: string): number {
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return field('used_cpu_user') + field('used_cpu_sys');
}

export class DetectorRedis {
  private readonly redis: Redis;

  constructor(url: string) {
    this.redis = new Redis(url);
  }

  private async clear(prefix: string): Promise<void> {
    const keys = await redisKeysWithPrefix(this.redis, prefix);
    for (let i = 0; i < keys.length; i += 5000) await this.redis.unlink(...keys.slice(i, i + 5000));
  }

  async throughput(
    sessions: DetectorSession[],
    prefix: string,
  ): Promise<{ sessionsPerSecond: number; sessionsPerCoreSecond: number; observationsPerSecond: number }> {
    const detector = new RedisDetector(this.redis, prefix);
    const config = defaultDetectorConfig();
    const redisBefore = redisCpu(await this.redis.info('cpu'));
    const cpu = process.cpuUsage();
    const started = performance.now();
    let observations = 0;
    for (let i = 0; i < sessions.length; i += BATCH) {
      const outcome = await detector.process(sessions.slice(i, i + BATCH), config);
      observations += Object.values(outcome.observations).reduce((a, b) => a + b, 0);
    }
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const redisSeconds = redisCpu(await this.redis.info('cpu')) - redisBefore;
    await this.clear(prefix);
    return {
      sessionsPerSecond: sessions.length / seconds,
      sessionsPerCoreSecond: sessions.length / ((used.user + used.system) / 1e6 + redisSeconds),
      observationsPerSecond: observations / seconds,
    };
  }

  async memoryPerSubject(sessions: DetectorSession[], prefix: string): Promise<number> {
    const used = async () => Number(/^used_memory:(\d+)/m.exec(await this.redis.info('memory'))?.[1]);
    const detector = new RedisDetector(this.redis, prefix);
    const before = await used();
    let subjects = 0;
    const seen = new Set<string>();
    for (let i = 0; i < sessions.length; i += BATCH)
      await detector.process(sessions.slice(i, i + BATCH), defaultDetectorConfig());
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
