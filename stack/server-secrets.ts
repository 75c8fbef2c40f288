// The servers' side of the generated secrets (stack.sh `make_secrets` generates one 0600 file per account under
// .stack/secrets/): the Redis ACL file, RabbitMQ's definitions (users, their permissions), Kafka Connect's REST users
// and JAAS file, and the properties file Kafka Connect's FileConfigProvider reads the CDC password from. Every file
// is written 0600 and holds no secret that its server does not need. Each account has only what its app needs; the
// tables here are the one place that says what (docs/OPERATIONS.md, "Accounts and secrets", repeats it for people).
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The Redis users: key patterns and commands. Prefixes vary (FLEETCAP_REDIS_PREFIX), so patterns start with `*`. The
 * apps may read a Redis Cluster's slot map (CLUSTER SLOTS, INFO: what a cluster client asks each node) and change
 * nothing of it.
 */
export const redisUsers = {
  // Operator: the CLI, the probe and the tests (they inspect and clean every key).
  fleetcap: '~* &* +@all',
  // splitcap: appends packets to sessions and records receipts (scripts), counts dropped packets with the receipt (one
  // MULTI) and copies the counts into MariaDB, watches memory (INFO).
  splitcap:
    'resetkeys ~*:s:{* ~*:receipt:{* ~*:drops:* resetchannels -@all +@read +@write +@scripting +@connection -@dangerous +info +multi +exec +cluster|slots +cluster|info',
  // session-worker: reads, finishes and sweeps sessions; no receipts. Of the detector state it only reads which
  // subjects are under an open incident (detection-backed alerts, lib/src/detectors/detection-alerts.ts).
  worker:
    'resetkeys ~*:s:{* %R~*:det:{* resetchannels -@all +@read +@write +@scripting +@connection -@dangerous +info +cluster|slots +cluster|info',
  // detector: its own windows only.
  detector:
    'resetkeys ~*:det:{* resetchannels -@all +@read +@write +@scripting +@connection -@dangerous +info +cluster|slots +cluster|info',
  // console: its sign-in sessions only (connect-redis: GET, SET, EXPIRE, DEL, SCAN).
  console: 'resetkeys ~*:console:* resetchannels -@all +@read +@write +@keyspace +@connection -@dangerous +info',
  // A Redis Cluster node's login to its master (stack/redis-cluster.sh): replication only, no command on keys. It
  // receives the whole data set by design, so only the cluster's nodes hold it.
  replica: 'resetkeys resetchannels -@all +psync +replconf +ping',
} as const;
export type RedisUser = keyof typeof redisUsers;

/**
 * The Redis ACL file: the default user is off (no anonymous access: a new connection must AUTH), each user on with its
 * password's sha256. The default user keeps every permission all the same, because Redis 7.0 replays the
 * append-only file at start as a client with the default user's rights: with `-@all` every MULTI/EXEC of the AOF was
 * refused (NOPERM in redis.log) and its writes were lost at each restart (the fault run saw it). An `off` user
 * cannot be authenticated as, so those rights serve only that replay.
 */
export const REDIS_DEFAULT_USER = 'user default off resetpass resetkeys resetchannels ~* &* +@all';

export function redisAclFile(passwords: Record<RedisUser, string>): string {
  const lines = [REDIS_DEFAULT_USER];
  for (const [user, rules] of Object.entries(redisUsers) as Array<[RedisUser, string]>) {
    const hash = createHash('sha256').update(passwords[user]).digest('hex');
    lines.push(`user ${user} on #${hash} ${rules}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * RabbitMQ permissions (configure, write, read regexes on vhost /). Prefixes vary (FLEETCAP_QUEUE_PREFIX), so the
 * patterns are anchored at the end. Publishing goes through the default exchange (amq.default), and declaring a queue
 * that dead-letters needs read on it and write on amq.default (RabbitMQ's rule), which is why splitcap may read its
 * own session queues.
 */
export const amqpUsers = {
  fleetcap: { tags: 'administrator', configure: '.*', write: '.*', read: '.*' },
  splitcap: {
    tags: '',
    configure: '\\.sessions\\.(ready|dead|delay\\.[0-9]+ms)(\\.q2?)?$',
    write: '^amq\\.default$',
    read: '\\.sessions\\.(ready|dead|delay\\.[0-9]+ms)(\\.q2?)?$',
  },
  worker: {
    tags: '',
    configure: '\\.((sessions\\.(ready|dead)|records\\.(sweep\\.[0-9]+ms|due))(\\.q2?)?|verdicts)$',
    write: '^amq\\.default$|\\.verdicts$',
    read: '\\.(sessions\\.(ready|dead)|records\\.(sweep\\.[0-9]+ms|due))(\\.q2?)?$',
  },
  detector: {
    tags: '',
    configure: '\\.(verdicts|detector(\\.dead)?(\\.q)?)$',
    write: '^amq\\.default$|\\.detector(\\.dead)?(\\.q)?$',
    read: '\\.(verdicts|detector(\\.dead)?(\\.q)?)$',
  },
} as const;
export type AmqpUser = keyof typeof amqpUsers;

/** RabbitMQ's rabbit_password_hashing_sha256: base64(salt ++ sha256(salt ++ password)), a 4-byte salt. */
export function rabbitPasswordHash(password: string, salt: Buffer = randomBytes(4)): string {
  const digest = createHash('sha256')
    .update(Buffer.concat([salt, Buffer.from(password, 'utf8')]))
    .digest();
  return Buffer.concat([salt, digest]).toString('base64');
}

/** The definitions RabbitMQ imports at boot and `stack up` imports into a running node (rabbitmqctl). */
export function rabbitDefinitions(passwords: Record<AmqpUser, string>): object {
  const users = Object.entries(amqpUsers) as Array<[AmqpUser, (typeof amqpUsers)[AmqpUser]]>;
  return {
    users: users.map(([name, u]) => ({
      name,
      password_hash: rabbitPasswordHash(passwords[name]),
      hashing_algorithm: 'rabbit_password_hashing_sha256',
      tags: u.tags === '' ? [] : [u.tags],
    })),
    vhosts: [{ name: '/' }],
    permissions: users.map(([name, u]) => ({
      user: name,
      vhost: '/',
      configure: u.configure,
      write: u.write,
      read: u.read,
    })),
  };
}

function readSecret(dir: string, name: string): string {
  return readFileSync(join(dir, name), 'utf8').split('\n')[0]!.trim();
}

function writePrivate(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}

/** Writes every server-side file from the secrets in `<stack>/secrets`; returns the paths written. */
export function writeServerSecrets(stack: string): string[] {
  const secrets = join(stack, 'secrets');
  const users = <K extends string>(names: readonly K[], prefix: string) =>
    Object.fromEntries(names.map((n) => [n, readSecret(secrets, `${prefix}-${n}.password`)])) as Record<K, string>;
  // The ACL file and the definitions hold only salted hashes of 264-bit random secrets: 0644, because the Redis and
  // RabbitMQ images of docker-compose.yml read them as users of their own. Every other file is 0600.
  const hashesOnly: Array<[string, string]> = [
    [join(stack, 'redis', 'users.acl'), redisAclFile(users(Object.keys(redisUsers) as RedisUser[], 'redis'))],
    [
      join(stack, 'rabbitmq', 'definitions.json'),
      `${JSON.stringify(rabbitDefinitions(users(Object.keys(amqpUsers) as AmqpUser[], 'amqp')), null, 2)}\n`,
    ],
  ];
  const written: Array<[string, string]> = [
    // PropertyFileLoginModule: `user: password` lines.
    [join(stack, 'connect', 'rest-users.properties'), `fleetcap: ${readSecret(secrets, 'connect-rest.password')}\n`],
    [
      join(stack, 'connect', 'jaas.conf'),
      `KafkaConnect {\n  org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule required\n  file="${join(stack, 'connect', 'rest-users.properties')}";\n};\n`,
    ],
    // The same for the Connect container of docker-compose.yml, which mounts its secrets under /run/secrets.
    [
      join(stack, 'connect', 'jaas-compose.conf'),
      'KafkaConnect {\n  org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule required\n  file="/run/secrets/connect-rest-users";\n};\n',
    ],
    // FileConfigProvider: the connector's config says ${file:<this>:password}, never the password.
    [join(secrets, 'connect-cdc.properties'), `password=${readSecret(secrets, 'mysql-cdc.password')}\n`],
  ];
  for (const [path, text] of written) writePrivate(path, text);
  for (const [path, text] of hashesOnly) {
    writeFileSync(path, text, { mode: 0o644 });
    chmodSync(path, 0o644);
  }
  return [...written, ...hashesOnly].map(([p]) => p);
}

/** How the Debezium connector names the CDC password: a FileConfigProvider reference, resolved inside Connect. */
export function cdcPasswordReference(stack: string, env: Record<string, string | undefined> = process.env): string {
  // FLEETCAP_CONNECT_CDC_FILE: where the Connect worker has the file, when it runs elsewhere (docker-compose.yml).
  return `\${file:${env.FLEETCAP_CONNECT_CDC_FILE ?? join(stack, 'secrets', 'connect-cdc.properties')}:password}`;
}
