// FLEETCAP_REDIS_CLUSTER_NODES: the seed nodes of a Redis Cluster, host:port[,host:port...] (IPv6 as [addr]:port).
// Its own module, without ioredis, because the connection config (lib/src/config/connections.ts) validates it.

export interface ClusterNode {
  host: string;
  port: number;
}

/** The seed nodes of FLEETCAP_REDIS_CLUSTER_NODES, or undefined when it is unset or empty (a single server). */
export function parseClusterNodes(value: string | undefined): ClusterNode[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  return value.split(',').map((entry) => {
    const m = /^\s*(\[[0-9a-fA-F:]+\]|[^\s:,]+):(\d{1,5})\s*$/.exec(entry);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) {
      throw new Error(
        `FLEETCAP_REDIS_CLUSTER_NODES: "${entry.trim()}" is not host:port; give the cluster's seed nodes as a ` +
          'comma-separated list, e.g. 127.0.0.1:7101,127.0.0.1:7102 (bash stack/redis-cluster.sh nodes prints them)',
      );
    }
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
  });
}
