// Backpressure before Redis fills: splitcap reads Redis's INFO memory every interval and refuses uploads (503 with
// Retry-After) while used_memory is at or over the high-water fraction of the limit. The limit is Redis's own
// maxmemory; a Redis without one (maxmemory 0) can grow until the kernel kills it, so then the limit is
// FLEETCAP_SPLITCAP_REDIS_MEMORY_LIMIT_BYTES, and without that there is none (a warning says so once). Redis must
// run with maxmemory-policy noeviction: an evicting policy would silently drop sessions, which have TTLs.
import { masters, type RedisClient } from '@fleetcap/lib/redis/connect';
import type { Logger } from 'pino';
import type { LimitMetrics } from './upload-limits.ts';

export interface RedisMemory {
  used: number;
  maxmemory: number;
  policy: string;
}

/** The fields of INFO memory the guard needs; undefined when `used_memory` is absent. */
export function parseInfoMemory(text: string): RedisMemory | undefined {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  const used = Number(fields.get('used_memory'));
  if (!Number.isFinite(used)) return undefined;
  return {
    used,
    maxmemory: Number(fields.get('maxmemory') ?? 0) || 0,
    policy: fields.get('maxmemory_policy') ?? '',
  };
}

export interface RedisMemoryGuardSettings {
  /** FLEETCAP_SPLITCAP_REDIS_MEMORY_HIGH_WATER: refuse from this fraction of the limit on. */
  highWater: number;
  /** FLEETCAP_SPLITCAP_REDIS_MEMORY_LIMIT_BYTES: the limit when Redis has no maxmemory (0: none). */
  fallbackLimitBytes: number;
  /** FLEETCAP_SPLITCAP_REDIS_MEMORY_CHECK_MS. */
  intervalMs: number;
}

/**
 * The fullest of several nodes (a Redis Cluster's masters, each with its own maxmemory): sessions spread over them
 * by slot, so the first to fill refuses the appends of its slots. Fullness is used / limit, the limit as memoryPressure
 * takes it.
 */
export function fullest(nodes: RedisMemory[], fallbackLimitBytes: number): RedisMemory | undefined {
  let best: RedisMemory | undefined;
  let bestRatio = -1;
  for (const m of nodes) {
    const limit = m.maxmemory || fallbackLimitBytes;
    const ratio = limit > 0 ? m.used / limit : 0;
    if (ratio > bestRatio) [best, bestRatio] = [m, ratio];
  }
  return best;
}

/** Why uploads must wait for Redis memory now, or undefined; pure, for the guard and its tests. */
export function memoryPressure(memory: RedisMemory, settings: RedisMemoryGuardSettings): string | undefined {
  const limit = memory.maxmemory || settings.fallbackLimitBytes;
  if (limit <= 0) return undefined;
  const highWater = Math.floor(limit * settings.highWater);
  if (memory.used < highWater) return undefined;
  const source = memory.maxmemory ? 'maxmemory' : 'FLEETCAP_SPLITCAP_REDIS_MEMORY_LIMIT_BYTES';
  return `Redis uses ${memory.used} bytes, over ${Math.round(settings.highWater * 100)}% of its ${source} of ${limit} bytes (the workers free sessions as they classify them; if this lasts, add workers or Redis memory)`;
}

export class RedisMemoryGuard {
  private pressure: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private warnedNoLimit = false;
  private warnedPolicy = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly settings: RedisMemoryGuardSettings,
    private readonly metrics: LimitMetrics,
    private readonly log: Logger,
  ) {}

  /** Why uploads must wait now, or undefined. Counts each refusal it causes. */
  backpressure(): string | undefined {
    if (this.pressure) this.metrics.refusals.inc({ limit: 'redis-memory' });
    return this.pressure;
  }

  start(): void {
    const tick = () => {
      this.check().catch(() => {
        // Redis away: the readiness check of the upload path answers 503 for that; keep the last state.
      });
    };
    tick();
    this.timer = setInterval(tick, this.settings.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async check(): Promise<void> {
    if (this.redis.status !== 'ready') return;
    const nodes = await Promise.all(
      masters(this.redis).map(async (node) => parseInfoMemory(await node.info('memory'))),
    );
    const memory = fullest(
      nodes.filter((m) => m !== undefined),
      this.settings.fallbackLimitBytes,
    );
    if (!memory) return;
    this.metrics.redisMemoryUsed.set(memory.used);
    this.metrics.redisMemoryLimit.set(memory.maxmemory || this.settings.fallbackLimitBytes);
    if (!memory.maxmemory && !this.settings.fallbackLimitBytes && !this.warnedNoLimit) {
      this.warnedNoLimit = true;
      this.log.warn(
        { code: 'splitcap.redis-no-maxmemory' },
        'Redis has no maxmemory and FLEETCAP_SPLITCAP_REDIS_MEMORY_LIMIT_BYTES is 0: uploads are never slowed down for Redis memory; set maxmemory (with maxmemory-policy noeviction)',
      );
    }
    if (memory.policy && memory.policy !== 'noeviction' && !this.warnedPolicy) {
      this.warnedPolicy = true;
      this.log.warn(
        { code: 'splitcap.redis-eviction-policy', policy: memory.policy },
        'Redis may evict keys (maxmemory-policy is not noeviction): sessions can be lost when it is full; set maxmemory-policy noeviction',
      );
    }
    const pressure = memoryPressure(memory, this.settings);
    if (pressure && !this.pressure)
      this.log.warn(
        { code: 'splitcap.redis-memory-high', used: memory.used, maxmemory: memory.maxmemory },
        'refusing uploads until Redis memory is below the high-water mark',
      );
    if (!pressure && this.pressure)
      this.log.info({ used: memory.used }, 'Redis memory is below the high-water mark again; accepting uploads');
    this.pressure = pressure;
  }
}
