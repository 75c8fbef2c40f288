// FLEETCAP_AMQP_CLUSTER_NODES: the nodes of a RabbitMQ cluster, host:port[,host:port...]. Each app logs in to every
// node with the one login of its AMQP URL (FLEETCAP_AMQP_URL, or the user and the generated secret), so the list
// carries no secret. Its own module, without amqplib, because the connection config validates it at startup.
import { parseServerList, type ServerAddress } from '../config/server-list.ts';

/** The nodes of FLEETCAP_AMQP_CLUSTER_NODES, or undefined when it is unset or empty (one server). */
export function parseAmqpNodes(value: string | undefined): ServerAddress[] | undefined {
  return parseServerList(
    'FLEETCAP_AMQP_CLUSTER_NODES',
    value,
    "the RabbitMQ cluster's nodes as a comma-separated list, e.g. 127.0.0.1:5701,127.0.0.1:5702,127.0.0.1:5703 " +
      '(bash stack/rabbitmq-cluster.sh urls prints them)',
  );
}

/** One URL per node: `url` (its login, vhost and query) with each node's host and port. */
export function amqpNodeUrls(url: string, nodes: readonly ServerAddress[] | undefined): string[] {
  if (!nodes?.length) return [url];
  return nodes.map(({ host, port }) => {
    const u = new URL(url);
    u.hostname = host.includes(':') ? `[${host}]` : host;
    u.port = String(port);
    return u.toString();
  });
}
