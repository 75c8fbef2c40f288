// Tests and benchmarks run the pipeline under their own Redis key prefix and queue prefix
// (FLEETCAP_REDIS_PREFIX, FLEETCAP_QUEUE_PREFIX), so they never meet each other's sessions; this
// removes everything such a namespace left behind.

import { recordSweepQueueNames, sessionQueueNames } from '@fleetcap/lib/queue/topology';
import { connectRedis, masters } from '@fleetcap/lib/redis/connect';
import amqp from 'amqplib';
import type { Redis } from 'ioredis';
import { connections } from './stack.ts';

export async function redisKeysWithPrefix(redis: Redis, prefix: string, what = '*'): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:${what}`, 'COUNT', 5000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found;
}

export async function removePipelineNamespace(prefix: string, delayMs = 5000, sweepMs = 30_000): Promise<void> {
  // On a Redis Cluster (FLEETCAP_REDIS_CLUSTER_NODES: the cluster stack's benches) every master holds some keys; a key
  // is unlinked through the cluster client, which sends it to its slot's master.
  const redis = connectRedis(connections.redisUrl, connections.redisClusterNodes);
  try {
    for (const node of masters(redis)) {
      const keys = await redisKeysWithPrefix(node, prefix);
      if (node === redis) for (let i = 0; i < keys.length; i += 5000) await redis.unlink(...keys.slice(i, i + 5000));
      // A node's keys are in many slots: one UNLINK each (a multi-key one would be refused, CROSSSLOT).
      else
        for (let i = 0; i < keys.length; i += 500)
          await Promise.all(keys.slice(i, i + 500).map((k) => redis.unlink(k)));
    }
  } finally {
    redis.disconnect();
  }
  const conn = await amqp.connect(connections.amqpUrl);
  try {
    const ch = await conn.createChannel();
    const queues = new Set([
      ...Object.values(sessionQueueNames(prefix, delayMs)),
      ...Object.values(recordSweepQueueNames(prefix, sweepMs)),
    ]);
    for (const q of queues) await ch.deleteQueue(q).catch(() => {});
  } finally {
    await conn.close();
  }
}
