// Where the servers are. Defaults match stack/env.sh (the local stack on loopback); every value
// can be overridden through the environment, and a bad value stops the process with a clear error.
import { z } from 'zod';

const port = z.coerce.number().int().min(1).max(65535);

const connectionEnv = z.object({
  FLEETCAP_REDIS_URL: z.string().url().optional(),
  FLEETCAP_REDIS_PORT: port.default(6379),
  FLEETCAP_AMQP_URL: z.string().url().optional(),
  FLEETCAP_AMQP_PORT: port.default(5672),
  FLEETCAP_AMQP_USER: z.string().min(1).default('fleetcap'),
  FLEETCAP_AMQP_PASSWORD: z.string().min(1).default('fleetcap'),
  FLEETCAP_MYSQL_HOST: z.string().min(1).default('127.0.0.1'),
  FLEETCAP_MYSQL_PORT: port.default(3306),
  FLEETCAP_MYSQL_DATABASE: z
    .string()
    .regex(/^[A-Za-z0-9_]+$/)
    .default('fleetcap'),
  FLEETCAP_MYSQL_ADMIN_USER: z.string().min(1).default('fleetcap_admin'),
  FLEETCAP_MYSQL_ADMIN_PASSWORD: z.string().min(1).default('fleetcap-admin-local'),
  FLEETCAP_ZK_CONNECT: z.string().min(1).optional(),
  FLEETCAP_ZK_PORT: port.default(2181),
  FLEETCAP_KAFKA_BROKERS: z.string().min(1).optional(),
  FLEETCAP_KAFKA_PORT: port.default(9092),
  FLEETCAP_CONNECT_URL: z.string().url().optional(),
  FLEETCAP_CONNECT_PORT: port.default(8083),
});

export interface Connections {
  redisUrl: string;
  amqpUrl: string;
  mysql: { host: string; port: number; database: string };
  mysqlAdmin: { user: string; password: string };
  zookeeper: string;
  kafkaBrokers: string[];
  connectUrl: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Turns zod issues into one line per variable: what is wrong and what was given. */
export function describeEnvIssues(error: z.ZodError, env: Record<string, string | undefined>): string {
  return error.issues
    .map((issue) => {
      const key = issue.path.join('.');
      return `  ${key}=${JSON.stringify(env[key] ?? '')}: ${issue.message}`;
    })
    .join('\n');
}

export function parseEnv<T extends z.ZodTypeAny>(
  schema: T,
  env: Record<string, string | undefined>,
  what: string,
): z.infer<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      `invalid ${what} configuration in the environment:\n${describeEnvIssues(parsed.error, env)}\nFix these variables and start again.`,
    );
  }
  return parsed.data;
}

export function loadConnections(env: Record<string, string | undefined> = process.env): Connections {
  const e = parseEnv(connectionEnv, env, 'server connection');
  const user = encodeURIComponent(e.FLEETCAP_AMQP_USER);
  const pass = encodeURIComponent(e.FLEETCAP_AMQP_PASSWORD);
  return {
    redisUrl: e.FLEETCAP_REDIS_URL ?? `redis://127.0.0.1:${e.FLEETCAP_REDIS_PORT}`,
    amqpUrl: e.FLEETCAP_AMQP_URL ?? `amqp://${user}:${pass}@127.0.0.1:${e.FLEETCAP_AMQP_PORT}`,
    mysql: { host: e.FLEETCAP_MYSQL_HOST, port: e.FLEETCAP_MYSQL_PORT, database: e.FLEETCAP_MYSQL_DATABASE },
    mysqlAdmin: { user: e.FLEETCAP_MYSQL_ADMIN_USER, password: e.FLEETCAP_MYSQL_ADMIN_PASSWORD },
    zookeeper: e.FLEETCAP_ZK_CONNECT ?? `127.0.0.1:${e.FLEETCAP_ZK_PORT}`,
    kafkaBrokers: (e.FLEETCAP_KAFKA_BROKERS ?? `127.0.0.1:${e.FLEETCAP_KAFKA_PORT}`).split(',').map((b) => b.trim()),
    connectUrl: e.FLEETCAP_CONNECT_URL ?? `http://127.0.0.1:${e.FLEETCAP_CONNECT_PORT}`,
  };
}
