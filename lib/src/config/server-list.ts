// A list of servers given as host:port[,host:port...] (IPv6 as [addr]:port): the seed nodes of a Redis Cluster
// (FLEETCAP_REDIS_CLUSTER_NODES), the nodes of a RabbitMQ cluster (FLEETCAP_AMQP_CLUSTER_NODES). One parser so that
// both variables take the same form and refuse a bad entry with the same kind of message.

export interface ServerAddress {
  host: string;
  port: number;
}

/**
 * The addresses in `value`, or undefined when it is unset or empty. A bad entry throws a message that names the
 * variable, the entry and what to give instead (`hint`: the sentence after "give ").
 */
export function parseServerList(
  variable: string,
  value: string | undefined,
  hint: string,
): ServerAddress[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  return value.split(',').map((entry) => {
    const m = /^\s*(\[[0-9a-fA-F:]+\]|[^\s:,/]+):(\d{1,5})\s*$/.exec(entry);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535)
      throw new Error(`${variable}: "${entry.trim()}" is not host:port; give ${hint}`);
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
  });
}
