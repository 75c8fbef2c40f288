// Where the servers are. Defaults match stack/env.sh (the local stack on loopback); every value
// can be overridden through the environment, and a bad value stops the process with a clear error.
import { z } from 'zod';
import { amqpNodeUrls, parseAmqpNodes } from '../queue/amqp-nodes.ts';
import { type ClusterNode, parseClusterNodes } from '../redis/cluster-nodes.ts';
import { serverPort as port } from './env-schema.ts';
import { resolveSecrets } from './secrets.ts';

/** An optional host:port list that `parse` accepts; what it throws becomes the variable's error. */
function nodeList(parse: (value: string | undefined) => unknown) {
  return z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      try {
        parse(value);
      } catch (e) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as Error).message });
      }
    });
}

const connectionEnv = z.object({
  FLEETCAP_REDIS_URL: z.string().url().optional(),
  FLEETCAP_REDIS_HOST: z.string().min(1).default('127.0.0.1'),
  FLEETCAP_REDIS_PORT: port.default(6379),
  FLEETCAP_AMQP_URL: z.string().url().optional(),
  FLEETCAP_AMQP_HOST: z.string().min(1).default('127.0.0.1'),
  FLEETCAP_AMQP_PORT: port.default(5672),
  FLEETCAP_AMQP_USER: z.string().min(1).optional(),
  FLEETCAP_AMQP_CLUSTER_NODES: nodeList(parseAmqpNodes),
  FLEETCAP_REDIS_USER: z.string().min(1).optional(),
  FLEETCAP_MYSQL_HOST: z.string().min(1).default('127.0.0.1'),
  FLEETCAP_MYSQL_PORT: port.default(3306),
  FLEETCAP_MYSQL_DATABASE: z
    .string()
    .regex(/^[A-Za-z0-9_]+$/)
    .default('fleetcap'),
  FLEETCAP_MYSQL_ADMIN_USER: z.string().min(1).default('fleetcap_admin'),
  FLEETCAP_REDIS_CLUSTER_NODES: nodeList(parseClusterNodes),
  FLEETCAP_ZK_CONNECT: z.string().min(1).optional(),
  FLEETCAP_ZK_PORT: port.default(2181),
  FLEETCAP_KAFKA_BROKERS: z.string().min(1).optional(),
  FLEETCAP_KAFKA_PORT: port.default(9092),
  FLEETCAP_CONNECT_URL: z.string().url().optional(),
  FLEETCAP_CONNECT_PORT: port.default(8083),
});

export interface Connections {
  redisUrl: string;
  /** A Redis Cluster's seed nodes (FLEETCAP_REDIS_CLUSTER_NODES), logged in to with redisUrl's user; else one server. */
  redisClusterNodes?: ClusterNode[];
  /** The first of amqpUrls. */
  amqpUrl: string;
  /**
   * Every node of a RabbitMQ cluster (FLEETCAP_AMQP_CLUSTER_NODES) with amqpUrl's login, in the order given; else
   * amqpUrl alone. AmqpConnection moves to the next one when its node is lost.
   */
  amqpUrls: string[];
  mysql: { host: string; port: number; database: string };
  mysqlAdmin: { user: string; password: string };
  zookeeper: string;
  kafkaBrokers: string[];
  connectUrl: string;
}

export type Env = Record<string, string | undefined>;

/**
 * The process a connection set is for. Each app that talks to Redis or RabbitMQ has a user of its own there, with only
 * the keys, queues and commands it needs (stack/stack.sh writes them); no app has the admin accounts. `operator` is
 * the CLI, the stack's probe and the tests: the admin accounts (MariaDB, Redis, RabbitMQ).
 */
export type ServiceName =
  | 'operator'
  | 'splitcap'
  | 'session-worker'
  | 'detector'
  | 'config-sync'
  | 'forecast'
  | 'listener'
  | 'console';

/**
 * The servers each service logs in to with a secret of its own, and as whom: the one place that says which secrets a
 * service is given (stack/server-secrets.ts makes the users; docker-compose.yml hands each app these files). A
 * service without an entry for a server is given no secret for it (the console keeps its sign-in sessions in Redis
 * and has no queue; config-sync, forecast and the listener use neither).
 */
export const serviceServers: Record<ServiceName, { redis?: string; amqp?: string; mysqlAdmin?: true }> = {
  operator: { redis: 'fleetcap', amqp: 'fleetcap', mysqlAdmin: true },
  splitcap: { redis: 'splitcap', amqp: 'splitcap' },
  'session-worker': { redis: 'worker', amqp: 'worker' },
  detector: { redis: 'detector', amqp: 'detector' },
  console: { redis: 'console' },
  'config-sync': {},
  forecast: {},
  listener: {},
};

/** One refused variable: its name, the value given (undefined when unset) and what is allowed. */
export interface EnvIssue {
  variable: string;
  value: string | undefined;
  problem: string;
}

/** A setting refused at startup; `issues` holds the refused variables (empty for a problem of another kind). */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    message: string,
    readonly issues: EnvIssue[] = [],
  ) {
    super(message);
  }
}

/** Secrets are never printed back: only how long the value given was. */
function shownValue(variable: string, value: string | undefined): string {
  if (value === undefined) return ' (not set)';
  // A _FILE variable names a file, not the secret: its path is shown.
  if (/PASSWORD|TOKEN|SECRET/.test(variable) && !variable.endsWith('_FILE'))
    return `=<hidden, ${value.length} characters>`;
  return `=${JSON.stringify(value)}`;
}

/** One line per variable: the value given and what is allowed. */
export function describeEnvIssues(issues: EnvIssue[]): string {
  return issues.map((i) => `  ${i.variable}${shownValue(i.variable, i.value)}: ${i.problem}`).join('\n');
}

/** The one shape of a refused environment: every bad variable, then what to do. */
export function describeEnvProblem(what: string, issues: EnvIssue[], otherProblems: string[] = []): string {
  const lines = [describeEnvIssues(issues), ...otherProblems.map((p) => `  ${p}`)].filter((l) => l !== '');
  return `invalid ${what} configuration in the environment:\n${lines.join('\n')}\nFix these variables and start again.`;
}

/**
 * zod's own texts say what is wrong in zod's words ("Expected number, received nan"); these say what is allowed.
 * A message a schema gives itself (`.min(1, '...')`, an errorMap of its own) is kept as it is.
 */
const envErrorMap: z.ZodErrorMap = (issue, ctx) => {
  if (ctx.defaultError !== z.defaultErrorMap(issue, { data: ctx.data, defaultError: '' }).message) {
    return { message: ctx.defaultError };
  }
  switch (issue.code) {
    case 'invalid_type':
      if (issue.received === 'undefined') return { message: 'required' };
      if (issue.expected === 'integer') return { message: 'must be a whole number' };
      if (issue.expected === 'number') return { message: 'must be a number' };
      break;
    case 'too_small':
      if (issue.type === 'string') return { message: `must be at least ${issue.minimum} characters long` };
      if (issue.type === 'number') return { message: `must be at least ${issue.minimum}` };
      break;
    case 'too_big':
      if (issue.type === 'string') return { message: `must be at most ${issue.maximum} characters long` };
      if (issue.type === 'number') return { message: `must be at most ${issue.maximum}` };
      break;
    case 'invalid_string':
      if (issue.validation === 'url') return { message: 'must be a URL such as http://host:port' };
      break;
    case 'invalid_enum_value':
      return { message: `must be one of ${issue.options.join(', ')}` };
  }
  return { message: ctx.defaultError };
};

export function parseEnv<T extends z.ZodTypeAny>(schema: T, env: Env, what: string): z.infer<T> {
  const parsed = schema.safeParse(env, { errorMap: envErrorMap });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => {
      const variable = issue.path.join('.');
      return { variable, value: env[variable], problem: issue.message };
    });
    throw new ConfigError(describeEnvProblem(what, issues), issues);
  }
  return parsed.data;
}

/**
 * Runs every loader on the same environment and reports the refused variables of all of them in one ConfigError
 * (an app's own settings, the server connections, the database accounts: one message, not one per restart).
 */
export function loadAll<T extends object>(
  what: string,
  loaders: { [K in keyof T]: (env: Env) => T[K] },
  env: Env = process.env,
): T {
  const loaded: Partial<T> = {};
  const issues: EnvIssue[] = [];
  const otherProblems: string[] = [];
  for (const key of Object.keys(loaders) as Array<keyof T>) {
    try {
      loaded[key] = loaders[key](env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      if (err.issues.length === 0) otherProblems.push(err.message);
      for (const issue of err.issues) if (!issues.some((i) => i.variable === issue.variable)) issues.push(issue);
    }
  }
  if (issues.length > 0 || otherProblems.length > 0) {
    throw new ConfigError(describeEnvProblem(what, issues, otherProblems), issues);
  }
  return loaded as T;
}

export function loadConnections(env: Env = process.env, service: ServiceName = 'operator'): Connections {
  const e = parseEnv(connectionEnv, env, 'server connection');
  const servers = serviceServers[service];
  const redisUser = e.FLEETCAP_REDIS_USER ?? servers.redis;
  const amqpUser = e.FLEETCAP_AMQP_USER ?? servers.amqp;
  // Only the secrets this service uses are looked for (and so need to be given to it).
  const wanted: Record<string, { variable: string; stackFile: string }> = {};
  if (redisUser !== undefined && e.FLEETCAP_REDIS_URL === undefined)
    wanted.redis = { variable: 'FLEETCAP_REDIS_PASSWORD', stackFile: `redis-${redisUser}.password` };
  if (amqpUser !== undefined && e.FLEETCAP_AMQP_URL === undefined)
    wanted.amqp = { variable: 'FLEETCAP_AMQP_PASSWORD', stackFile: `amqp-${amqpUser}.password` };
  if (servers.mysqlAdmin)
    wanted.mysqlAdmin = { variable: 'FLEETCAP_MYSQL_ADMIN_PASSWORD', stackFile: 'mysql-admin.password' };
  const secret = resolveSecrets(env, wanted, 'server connection');
  const credentials = (user: string | undefined, password: string | undefined) =>
    user === undefined || password === undefined ? '' : `${encodeURIComponent(user)}:${encodeURIComponent(password)}@`;
  const amqpUrls = amqpNodeUrls(
    e.FLEETCAP_AMQP_URL ??
      `amqp://${credentials(amqpUser, secret.amqp)}${e.FLEETCAP_AMQP_HOST}:${e.FLEETCAP_AMQP_PORT}`,
    parseAmqpNodes(e.FLEETCAP_AMQP_CLUSTER_NODES),
  );
  const connections: Connections = {
    redisUrl:
      e.FLEETCAP_REDIS_URL ??
      `redis://${credentials(redisUser, secret.redis)}${e.FLEETCAP_REDIS_HOST}:${e.FLEETCAP_REDIS_PORT}`,
    ...(e.FLEETCAP_REDIS_CLUSTER_NODES?.trim()
      ? { redisClusterNodes: parseClusterNodes(e.FLEETCAP_REDIS_CLUSTER_NODES) }
      : {}),
    amqpUrl: amqpUrls[0]!,
    amqpUrls,
    mysql: { host: e.FLEETCAP_MYSQL_HOST, port: e.FLEETCAP_MYSQL_PORT, database: e.FLEETCAP_MYSQL_DATABASE },
    mysqlAdmin: { user: e.FLEETCAP_MYSQL_ADMIN_USER, password: secret.mysqlAdmin ?? '' },
    zookeeper: e.FLEETCAP_ZK_CONNECT ?? `127.0.0.1:${e.FLEETCAP_ZK_PORT}`,
    kafkaBrokers: (e.FLEETCAP_KAFKA_BROKERS ?? `127.0.0.1:${e.FLEETCAP_KAFKA_PORT}`).split(',').map((b) => b.trim()),
    connectUrl: e.FLEETCAP_CONNECT_URL ?? `http://127.0.0.1:${e.FLEETCAP_CONNECT_PORT}`,
  };
  if (!servers.mysqlAdmin) {
    // An app has no admin account: reading it is a wiring mistake, said at once rather than as a refused login.
    Object.defineProperty(connections, 'mysqlAdmin', {
      enumerable: false,
      get() {
        throw new ConfigError(`${service} has no MariaDB admin account: only the operator (CLI, stack) uses it`);
      },
    });
  }
  return connections;
}

/** The Kafka Connect REST credentials of the operator (basic auth; stack/stack.sh turns it on). */
export function loadConnectAuth(env: Env = process.env): { user: string; password: string } {
  const user = env.FLEETCAP_CONNECT_USER ?? 'fleetcap';
  const { password } = resolveSecrets(
    env,
    { password: { variable: 'FLEETCAP_CONNECT_PASSWORD', stackFile: 'connect-rest.password' } },
    'Kafka Connect REST',
  );
  return { user, password };
}

/** The Authorization header of Kafka Connect's REST API. */
export function connectAuthHeader(env: Env = process.env): Record<string, string> {
  const { user, password } = loadConnectAuth(env);
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}
