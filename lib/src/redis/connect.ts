// One Redis for every app: a single server (FLEETCAP_REDIS_URL or the stack's host and port), or a Redis Cluster when
// FLEETCAP_REDIS_CLUSTER_NODES names seed nodes. A single-node client does not follow a cluster's MOVED redirections,
// so the choice is made here, once, and the apps only see `RedisClient`. The cluster client logs in on every node with
// the user and password of the app's Redis URL (the same ACL users on every node: stack/redis-cluster.sh).
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { ClusterNode } from './cluster-nodes.ts';

export type RedisClient = Redis | Cluster;

/** The login of a redis:// URL (user and password, decoded), for the cluster client's per-node connections. */
export function urlLogin(redisUrl: string): { username?: string; password?: string } {
  const u = new URL(redisUrl);
  return {
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

/**
 * A client for the app's Redis: a Cluster client when `clusterNodes` is given (options apply to each node's
 * connection; offline queueing is the cluster client's own), else a single-server client of the URL.
 */
export function connectRedis(
  redisUrl: string,
  clusterNodes: ClusterNode[] | undefined,
  options: RedisOptions = {},
): RedisClient {
  if (!clusterNodes) return new Redis(redisUrl, options);
  const { enableOfflineQueue, ...perNode } = options;
  return new Cluster(clusterNodes, {
    redisOptions: { ...perNode, ...urlLogin(redisUrl) },
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    // Writes and the reads that decide them go to masters: a replica may lag behind an append.
    scaleReads: 'master',
    // A master lost: its replica is promoted after cluster-node-timeout; until then retry, then give up per command.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    clusterRetryStrategy: (times) => Math.min(200 * times, 2000),
    slotsRefreshTimeout: 2000,
  });
}

/** The nodes an app's health and memory checks look at: the masters of a cluster, or the one server. */
export function masters(redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}
