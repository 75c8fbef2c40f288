// FLEETCAP_REDIS_CLUSTER_NODES: the seed nodes of a Redis Cluster, host:port[,host:port...] (IPv6 as [addr]:port).
// Its own module, without ioredis, because the connection config (lib/src/config/connections.ts) validates it.
import { parseServerList, type ServerAddress } from '../config/server-list.ts';

export type ClusterNode = ServerAddress;

/** The seed nodes of FLEETCAP_REDIS_CLUSTER_NODES, or undefined when it is unset or empty (a single server). */
export function parseClusterNodes(value: string | undefined): ClusterNode[] | undefined {
  return parseServerList(
    'FLEETCAP_REDIS_CLUSTER_NODES',
    value,
    "the cluster's seed nodes as a comma-separated list, e.g. 127.0.0.1:7101,127.0.0.1:7102 " +
      '(bash stack/redis-cluster.sh nodes prints them)',
  );
}
