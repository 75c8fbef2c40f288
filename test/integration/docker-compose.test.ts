// docker-compose.yml describes the same stack; no Docker engine runs here, so it is validated with
// `docker-compose config` (Debian's docker-compose) and checked for the settings the stack relies on, and against
// the monitoring configs it mounts (stack/monitoring/): Prometheus must scrape every app where it listens.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadConfigSyncConfig } from '@fleetcap/config-sync/config';
import { loadConsoleConfig } from '@fleetcap/console/config';
import { loadDetectorConfig } from '@fleetcap/detector/config';
import { loadForecastConfig } from '@fleetcap/forecast/config';
import { isAgentSecret, uploadToken } from '@fleetcap/lib/auth/agent-credential';
import { loadListenerOptions } from '@fleetcap/listener/options';
import { loadWorkerConfig } from '@fleetcap/session-worker/config';
import { loadSplitcapConfig } from '@fleetcap/splitcap/config';
import { parse } from 'yaml';
import {
  type ComposeService,
  compose,
  composeConfig,
  repoMount,
  secretNames,
  serviceEnv,
  serviceEnvOnHost,
} from '../helpers/compose.ts';
import { repoRoot } from '../helpers/stack.ts';

/** The topology of `stack.sh up --cluster` as compose services (profile "cluster"; docs/OPERATIONS.md). */
const CLUSTER_SERVICES = [
  'config-sync-cluster',
  'connect-c1',
  'connect-c2',
  'forecast-cluster',
  'kafka-b1',
  'kafka-b2',
  'kafka-b3',
  'rabbitmq-c1',
  'rabbitmq-c2',
  'rabbitmq-c3',
  'redis-c1',
  'redis-c2',
  'redis-c3',
  'redis-c4',
  'redis-c5',
  'redis-c6',
  'redis-cluster-init',
  'session-worker-cluster',
  'splitcap-1',
  'splitcap-2',
  'splitcap-balancer',
  'stack-init-cluster',
  'zookeeper-e1',
  'zookeeper-e2',
  'zookeeper-e3',
];

test('docker-compose.yml is valid and holds the same servers and apps, and the monitoring', () => {
  const services = compose('--profile', 'apps', '--profile', 'monitoring', 'config', '--services')
    .trim()
    .split('\n')
    .sort();
  assert.deepEqual(
    services,
    [
      'alertmanager',
      'config-sync',
      'connect',
      'console',
      'detector',
      'forecast',
      'grafana',
      'kafka',
      'listener',
      'mariadb',
      'prometheus',
      'rabbitmq',
      'redis',
      'session-worker',
      'splitcap',
      'stack-init',
      'zookeeper',
      // docker-compose 1.29 lists every service, whatever the profiles given: the cluster profile's are here too, and
      // each of them is in that profile only (checked below), so the default and apps stacks do not start them.
      ...CLUSTER_SERVICES,
    ].sort(),
  );
  const { services: declared } = composeConfig();
  for (const name of CLUSTER_SERVICES)
    assert.deepEqual(declared[name]?.profiles, ['cluster'], `${name} is in the cluster profile only`);
  const config = compose('config');
  for (const setting of [
    '--binlog-format=ROW',
    '--binlog-row-image=FULL',
    '--server-id=1',
    'KAFKA_PROCESS_ROLES: broker,controller',
  ]) {
    assert.ok(config.includes(setting), `compose config contains ${setting}`);
  }
  assert.match(config, /image: quay\.io\/debezium\/connect:3\.0\.1\.Final/);
  assert.match(config, /image: mariadb:10\.11/);
});

test('Prometheus and Grafana: pinned public images, profile "monitoring", every published port on loopback', () => {
  const { services } = composeConfig();
  for (const name of ['prometheus', 'grafana']) {
    const s = services[name]!;
    assert.deepEqual(s.profiles, ['monitoring'], `${name} is opt-in (profile monitoring)`);
    assert.match(
      s.image ?? '',
      /^(prom\/prometheus|grafana\/grafana):v?\d+\.\d+\.\d+$/,
      `${name}: an exact version, not latest`,
    );
  }
  assert.ok(services.prometheus!.ports?.includes('127.0.0.1:9090:9090/tcp'));
  assert.ok(services.grafana!.ports?.includes('127.0.0.1:3000:3000/tcp'));
  for (const [name, s] of Object.entries(services)) {
    for (const port of s.ports ?? [])
      assert.match(port, /^127\.0\.0\.1:/, `${name} publishes ${port} on loopback only`);
  }
  // Prometheus reads the repository's config file where its --config.file says.
  const flag = (services.prometheus!.command ?? []).find((a) => a.startsWith('--config.file='));
  assert.ok(flag, 'prometheus is given --config.file');
  assert.equal(
    repoMount(services.prometheus!, flag.slice('--config.file='.length)).repoPath,
    'stack/monitoring/prometheus.yml',
  );
});

test("RabbitMQ's compose service enables rabbitmq_prometheus (port 15692)", () => {
  const rabbitmq = composeConfig().services.rabbitmq!;
  assert.match(rabbitmq.image ?? '', /^rabbitmq:3\.10/);
  const plugins = repoMount(rabbitmq, '/etc/rabbitmq/enabled_plugins');
  assert.ok(plugins.readOnly);
  // The file is an Erlang term: a list of plugin atoms ending with a full stop.
  const text = readFileSync(plugins.source, 'utf8').trim();
  assert.match(text, /^\[[a-z_, ]*\]\.$/, `enabled_plugins is an Erlang list: ${text}`);
  assert.ok(
    text
      .slice(1, -2)
      .split(',')
      .map((p) => p.trim())
      .includes('rabbitmq_prometheus'),
    text,
  );
});

interface ScrapeConfig {
  job_name: string;
  metrics_path?: string;
  static_configs?: Array<{ targets: string[] }>;
  dns_sd_configs?: Array<{ names: string[]; type?: string; port: number }>;
}

/** Where each app's /metrics listens, as its own config module reads the service's environment. */
const listens: Record<string, (env: Record<string, string>) => { host: string; port: number | 'off' }> = {
  console: (env) => {
    const c = loadConsoleConfig(env);
    return { host: c.FLEETCAP_CONSOLE_HOST, port: c.FLEETCAP_CONSOLE_PORT };
  },
  splitcap: (env) => {
    // Compose must give the tokens (splitcap refuses to start without them).
    const c = loadSplitcapConfig(env);
    return { host: c.FLEETCAP_SPLITCAP_HOST, port: c.FLEETCAP_SPLITCAP_PORT };
  },
  forecast: (env) => {
    const c = loadForecastConfig(env);
    return { host: c.FLEETCAP_FORECAST_HOST, port: c.FLEETCAP_FORECAST_PORT };
  },
  'session-worker': (env) => {
    const c = loadWorkerConfig(env);
    return { host: c.FLEETCAP_WORKER_HOST, port: c.FLEETCAP_WORKER_PORT };
  },
  detector: (env) => {
    const c = loadDetectorConfig(env);
    return { host: c.FLEETCAP_DETECTOR_HOST, port: c.FLEETCAP_DETECTOR_PORT };
  },
  'config-sync': (env) => {
    const c = loadConfigSyncConfig(env);
    return { host: c.FLEETCAP_CONFIG_SYNC_HOST, port: c.FLEETCAP_CONFIG_SYNC_PORT };
  },
  listener: (env) => {
    const o = loadListenerOptions(env);
    return { host: o.metricsHost, port: o.metricsPort };
  },
  // rabbitmq_prometheus's default listener (prometheus.tcp.port), not changed by the compose service.
  rabbitmq: () => ({ host: '0.0.0.0', port: 15692 }),
};

function targetsOf(job: ScrapeConfig): Array<{ host: string; port: number; how: string }> {
  const out: Array<{ host: string; port: number; how: string }> = [];
  for (const sc of job.static_configs ?? []) {
    for (const t of sc.targets) {
      const m = /^([^:]+):(\d+)$/.exec(t);
      assert.ok(m, `${job.job_name}: target ${t} is host:port`);
      out.push({ host: m[1]!, port: Number(m[2]), how: 'static' });
    }
  }
  for (const dns of job.dns_sd_configs ?? []) {
    assert.equal(dns.type ?? 'SRV', 'A', `${job.job_name}: DNS discovery of a compose service is by A records`);
    for (const name of dns.names) out.push({ host: name, port: dns.port, how: 'dns' });
  }
  return out;
}

test('every scrape target in prometheus.yml is a compose service, on the metrics port its environment sets', () => {
  const config = composeConfig();
  const { services } = config;
  const prom = parse(readFileSync(`${repoRoot}/stack/monitoring/prometheus.yml`, 'utf8')) as {
    scrape_configs: ScrapeConfig[];
  };
  const jobs = prom.scrape_configs;
  const apps = Object.entries(services)
    .filter(([, s]) => s.profiles?.includes('apps'))
    .map(([n]) => n);
  assert.deepEqual(jobs.map((j) => j.job_name).sort(), [...apps, 'rabbitmq'].sort(), 'one job per app, and RabbitMQ');

  for (const job of jobs) {
    const service: ComposeService | undefined = services[job.job_name];
    assert.ok(service, `job ${job.job_name} names a compose service`);
    const listen = listens[job.job_name];
    assert.ok(listen, `the test knows where ${job.job_name} serves /metrics`);
    const { host, port } = listen(serviceEnvOnHost(service, config));
    assert.ok(
      port !== 0 && port !== 'off',
      `${job.job_name}: a fixed metrics port in compose (0 = random, off = none)`,
    );
    const targets = targetsOf(job);
    assert.ok(targets.length > 0, `${job.job_name} has targets`);
    for (const t of targets) {
      assert.equal(t.port, port, `${job.job_name}: scraped on ${t.port}, its environment sets ${port}`);
      if (service.network_mode === 'host') {
        // The host's own addresses, through the gateway: loopback of the host is out of the containers' reach.
        assert.equal(t.host, 'host.docker.internal', `${job.job_name} runs in the host's network`);
        assert.ok(services.prometheus!.extra_hosts?.includes('host.docker.internal:host-gateway'));
        assert.notEqual(host, '127.0.0.1', `${job.job_name} must listen where the gateway reaches it`);
      } else {
        assert.equal(t.host, job.job_name, `${job.job_name}: target host is its compose service name`);
        assert.ok(
          ['0.0.0.0', '::'].includes(host),
          `${job.job_name} listens on ${host}: Prometheus could not reach it`,
        );
      }
    }
    const replicas = (service as { deploy?: { replicas?: number } }).deploy?.replicas ?? 1;
    if (replicas > 1) {
      assert.ok(
        targets.every((t) => t.how === 'dns'),
        `${job.job_name} has ${replicas} replicas: a static target would reach one of them at random`,
      );
    }
  }
  // Per-queue series (labels vhost, queue) for the queue-depth panel.
  assert.equal(jobs.find((j) => j.job_name === 'rabbitmq')?.metrics_path, '/metrics/per-object');
});

test('the compose apps can work together: the agent is enrolled by stack-init and uploads as it, the workers find forecast', () => {
  const config = composeConfig();
  const { services } = config;
  const splitcap = loadSplitcapConfig(serviceEnvOnHost(services.splitcap!, config));
  const listenerEnv = serviceEnv(services.listener!);
  const agent = listenerEnv.FLEETCAP_AGENT_ID;
  assert.ok(agent, 'the listener has an agent id');
  // splitcap accepts the enrolled agents of agent_credential, and no static token.
  assert.equal(splitcap.FLEETCAP_SPLITCAP_CREDENTIALS, 'table');
  for (const [name, service] of Object.entries(services)) {
    assert.equal(serviceEnv(service).FLEETCAP_SPLITCAP_TOKENS, undefined, `${name}: no development token pair`);
    assert.equal(serviceEnv(service).FLEETCAP_AGENT_TOKEN, undefined, `${name}: no static upload token`);
  }
  // The listener reads the secret that stack-init enrolls for its agent id (the same compose secret, the same path).
  const secretPath = listenerEnv.FLEETCAP_AGENT_SECRET_FILE;
  assert.equal(secretPath, '/run/secrets/agent-compose');
  assert.ok(secretNames(services['stack-init']!).includes('agent-compose'), 'stack-init is given the agent secret');
  const init = (services['stack-init']!.command ?? []).join(' ').replace(/\s+/g, ' ');
  assert.ok(
    init.includes(`node cli/dist/main.js agents add ${agent} --existing-secret-file ${secretPath}`),
    `stack-init enrolls ${agent}: ${init}`,
  );
  assert.ok(
    init.indexOf('migrate') < init.indexOf('agents add'),
    'the table exists (migrations) before the agent is enrolled',
  );
  // The file `stack.sh secrets` made is an agent secret; the listener derives its upload token and ZooKeeper
  // credential from it, as it would in its container.
  const listener = loadListenerOptions(serviceEnvOnHost(services.listener!, config));
  const secret = readFileSync(config.secrets!['agent-compose']!.file, 'utf8').trim();
  assert.ok(isAgentSecret(secret), 'stack.sh secrets made an agent secret (fca1_ and 32 random bytes)');
  assert.equal(listener.uploadToken, uploadToken(secret));
  assert.ok(listener.zkCredentials?.startsWith(`agent.${agent}:`), 'its ZooKeeper digest user');
  const worker = loadWorkerConfig(serviceEnvOnHost(services['session-worker']!, config));
  const forecast = loadForecastConfig(serviceEnvOnHost(services.forecast!, config));
  assert.equal(worker.FLEETCAP_FORECAST_URL, `http://forecast:${forecast.FLEETCAP_FORECAST_PORT}`);
  assert.equal(
    worker.FLEETCAP_FORECAST_TOKEN_FILE,
    forecast.FLEETCAP_FORECAST_TOKEN_FILE,
    "the workers send forecast's token",
  );
  // Uploads over TLS: splitcap has a certificate, plain HTTP is not allowed, the agent verifies against the CA.
  assert.ok(splitcap.FLEETCAP_SPLITCAP_TLS_CERT && splitcap.FLEETCAP_SPLITCAP_TLS_KEY, 'splitcap serves HTTPS');
  assert.equal(serviceEnv(services.splitcap!).FLEETCAP_SPLITCAP_PLAINTEXT, undefined, 'plain HTTP is refused');
  assert.equal(listenerEnv.FLEETCAP_UPLOAD_PLAINTEXT, undefined);
  assert.equal(listenerEnv.FLEETCAP_SPLITCAP_CA_FILE, '/run/secrets/tls-ca');
});

test('compose: no password in any environment; each app gets its own secrets as files, and no other', () => {
  const config = composeConfig();
  for (const [name, service] of Object.entries(config.services)) {
    for (const [k, v] of Object.entries(serviceEnv(service))) {
      if (/PASSWORD|_PASS$/.test(k) && !k.endsWith('_FILE'))
        assert.fail(`${name}: ${k} holds a password in the environment (${v.length} characters)`);
      if (k.endsWith('_FILE')) assert.match(v, /^\/run\/secrets\//, `${name}: ${k} names a compose secret`);
    }
    // Every secret file given resolves to a file `stack.sh secrets` made (serviceEnvOnHost throws otherwise).
    serviceEnvOnHost(service, config);
  }
  const own = (service: string) => secretNames(config.services[service]!).sort();
  assert.deepEqual(own('splitcap'), [
    'amqp-splitcap',
    'mysql-splitcap',
    'redis-splitcap',
    'splitcap-cert',
    'splitcap-key',
  ]);
  assert.deepEqual(own('session-worker'), ['amqp-worker', 'forecast-token', 'mysql-worker', 'redis-worker']);
  assert.deepEqual(own('detector'), ['amqp-detector', 'mysql-detector', 'redis-detector']);
  assert.deepEqual(own('config-sync'), ['mysql-configsync', 'zk-configsync']);
  assert.deepEqual(own('listener'), ['agent-compose', 'tls-ca'], "the agent host holds its own secret and no server's");
  assert.ok(
    (config.services.redis!.command ?? []).includes('/run/secrets/redis-users'),
    'Redis loads its ACL users; the default user is off',
  );
  assert.equal(serviceEnv(config.services.rabbitmq!).RABBITMQ_DEFAULT_PASS, undefined);
});
