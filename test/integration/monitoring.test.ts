// The monitoring of docker-compose.yml (profile "monitoring", configs in stack/monitoring/) without running it:
// promtool validates Prometheus's config and the dashboard's PromQL, every metric a panel reads is one an app's real
// registry (or RabbitMQ's plugin) exports, Grafana's provisioning parses and reads MariaDB as the read-only
// reporting account only, and the SQL panels run as that account on the local stack's MariaDB.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { inflateSync } from 'node:zlib';
import { createMetrics as configSyncMetrics } from '@fleetcap/config-sync/metrics';
import { createDetectorMetrics } from '@fleetcap/detector/metrics';
import { createMetrics as forecastMetrics } from '@fleetcap/forecast/metrics';
import { emptyCounters } from '@fleetcap/lib/agent/ipc';
import { loadConnections } from '@fleetcap/lib/config/connections';
import { accountRoles, loadAccounts } from '@fleetcap/lib/db/accounts';
import { sessionQueueNames } from '@fleetcap/lib/queue/topology';
import type { Registry } from '@fleetcap/lib/telemetry/metrics';
import { createListenerMetrics } from '@fleetcap/listener/metrics';
import { createMetrics as refusalExporterMetrics } from '@fleetcap/refusal-exporter/metrics';
import { createWorkerMetrics } from '@fleetcap/session-worker/metrics';
import { createMetrics as splitcapMetrics } from '@fleetcap/splitcap/metrics';
import { parse as parseYaml, stringify } from 'yaml';
import { composeConfig, repoMount, serviceEnv, serviceEnvOnHost } from '../helpers/compose.ts';
import { assertStackUp, mysqlAs, repoRoot } from '../helpers/stack.ts';

const monitoring = join(repoRoot, 'stack/monitoring');
const work = mkdtempSync(join(tmpdir(), 'fleetcap-monitoring-'));
after(() => rmSync(work, { recursive: true, force: true }));

function promtool(...args: string[]): string {
  try {
    return execFileSync('promtool', args, { cwd: repoRoot, encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    const e = err as { code?: string; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT')
      throw new Error('promtool is missing: bash stack/install.sh installs it (Debian package prometheus)');
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

// ---- The metric names that really exist, by the Prometheus job that scrapes them -------------------------------

async function namesOf(registry: Registry): Promise<string[]> {
  const out: string[] = [];
  for (const m of await registry.getMetricsAsJSON()) {
    const type = String(m.type);
    if (type === 'histogram') out.push(`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`);
    else if (type === 'summary') out.push(m.name, `${m.name}_sum`, `${m.name}_count`);
    else out.push(m.name);
  }
  return out;
}

/** The RabbitMQ series the dashboard may read (rabbitmq_prometheus, /metrics/per-object: labels vhost, queue). */
const rabbitmqMetrics = ['rabbitmq_queue_messages_ready', 'rabbitmq_queue_messages_unacked', 'rabbitmq_queue_messages'];
/** Series Prometheus itself writes for every target. */
const prometheusMetrics = [
  'up',
  'scrape_duration_seconds',
  'scrape_samples_scraped',
  'scrape_samples_post_metric_relabeling',
];

async function knownMetrics(): Promise<Map<string, string>> {
  const byJob: Record<string, Registry> = {
    splitcap: splitcapMetrics().registry,
    forecast: forecastMetrics().registry,
    'session-worker': createWorkerMetrics().registry,
    'config-sync': configSyncMetrics().registry,
    detector: createDetectorMetrics().registry,
    'refusal-exporter': refusalExporterMetrics().registry,
    listener: createListenerMetrics({
      zookeeperConnected: () => false,
      appliedRevision: () => null,
      capturing: () => false,
      snifferRestarts: () => 0,
      counters: emptyCounters,
    }).registry,
  };
  const known = new Map<string, string>();
  for (const [job, registry] of Object.entries(byJob)) for (const n of await namesOf(registry)) known.set(n, job);
  for (const n of rabbitmqMetrics) known.set(n, 'rabbitmq');
  for (const n of prometheusMetrics) known.set(n, '*');
  return known;
}

/** The literal table of an Erlang .beam file (chunk LitT: uncompressed size, then zlib). */
function beamLiterals(file: string): Buffer {
  const b = readFileSync(file);
  assert.equal(b.toString('latin1', 0, 4), 'FOR1');
  for (let at = 12; at + 8 <= b.length; ) {
    const id = b.toString('latin1', at, at + 4);
    const size = b.readUInt32BE(at + 4);
    if (id === 'LitT') return inflateSync(b.subarray(at + 12, at + 8 + size));
    at += 8 + Math.ceil(size / 4) * 4;
  }
  throw new Error(`${file}: no literal table`);
}

test("the RabbitMQ metric names exist in RabbitMQ 3.10's rabbitmq_prometheus (the Debian server the stack installs)", () => {
  const base = '/usr/lib/rabbitmq/lib';
  const server = existsSync(base) ? readdirSync(base).find((d) => d.startsWith('rabbitmq_server-3.10')) : undefined;
  assert.ok(server, `no RabbitMQ 3.10 under ${base}: bash stack/install.sh installs rabbitmq-server`);
  const plugins = join(base, server, 'plugins');
  const plugin = readdirSync(plugins).find((d) => d.startsWith('rabbitmq_prometheus-'));
  assert.ok(plugin, `${plugins} has no rabbitmq_prometheus`);
  const literals = beamLiterals(join(plugins, plugin, 'ebin/prometheus_rabbitmq_core_metrics_collector.beam'));
  for (const name of rabbitmqMetrics) {
    // The collector holds the names without the endpoint's prefix ("rabbitmq_"; "rabbitmq_detailed_" on /metrics/detailed).
    assert.ok(literals.includes(Buffer.from(name.replace(/^rabbitmq_/, ''))), `${plugin} exports ${name}`);
  }
  const dispatcher = readFileSync(join(plugins, plugin, 'ebin/rabbit_prometheus_dispatcher.beam'));
  assert.ok(dispatcher.includes(Buffer.from('per-object')), `${plugin} serves /metrics/per-object`);
});

// ---- PromQL -------------------------------------------------------------------------------------------------------

const promqlWords = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/** The metric names a PromQL expression reads (Grafana's $variables taken out). */
function metricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ') // Grafana variables
    .replace(/(?<![A-Za-z0-9_:])\.?\d[0-9A-Za-z._]*/g, ' '); // numbers and durations
  const names = new Set<string>();
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const rest = s.slice((m.index ?? 0) + m[0].length).trimStart();
    if (rest.startsWith('(') || promqlWords.has(m[0].toLowerCase())) continue; // a function, aggregation or keyword
    names.add(m[0]);
  }
  return [...names];
}

test('metricNames finds the metrics of an expression and nothing else', () => {
  assert.deepEqual(
    metricNames(
      'histogram_quantile(0.95, sum by (le, app) (rate(a_seconds_bucket{job="x",le!="+Inf"}[$__rate_interval] offset 5m))) / on(job) group_left(app) b_total > bool 1e3 or sum(c:rule) without (instance)',
    ).sort(),
    ['a_seconds_bucket', 'b_total', 'c:rule'],
  );
  assert.deepEqual(metricNames('sum(rate(x_total[5m])) by (label)'), ['x_total']);
  assert.deepEqual(metricNames('up'), ['up']);
});

// ---- The files ----------------------------------------------------------------------------------------------------

interface Target {
  refId: string;
  datasource?: { type: string; uid: string };
  expr?: string;
  rawSql?: string;
  format?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
}
interface Datasource {
  name: string;
  uid: string;
  type: string;
  url: string;
  user?: string;
  isDefault?: boolean;
  jsonData?: Record<string, unknown>;
  secureJsonData?: Record<string, string>;
}

const dashboardFile = join(monitoring, 'grafana/dashboards/fleetcap.json');
const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8')) as { uid: string; title: string; panels: Panel[] };
const promTargets = dashboard.panels.flatMap((p) =>
  (p.targets ?? []).filter((t) => t.expr !== undefined).map((t) => ({ panel: p, target: t, expr: t.expr! })),
);
const sqlTargets = dashboard.panels.flatMap((p) =>
  (p.targets ?? []).filter((t) => t.rawSql !== undefined).map((t) => ({ panel: p, target: t, sql: t.rawSql! })),
);
const datasourceText = readFileSync(join(monitoring, 'grafana/provisioning/datasources/fleetcap.yml'), 'utf8');
const datasources = (parseYaml(datasourceText) as { apiVersion: number; datasources: Datasource[] }).datasources;

test('promtool check config stack/monitoring/prometheus.yml', () => {
  assert.match(promtool('check', 'config', 'stack/monitoring/prometheus.yml'), /SUCCESS/);
});

test('every PromQL expression of the dashboard parses (promtool check rules)', () => {
  assert.ok(promTargets.length >= 8, 'the dashboard has its Prometheus queries');
  // Grafana fills in its interval variables; any duration will do for the parser.
  const rules = promTargets.map(({ panel, target, expr }) => ({
    record: `fleetcap_dashboard:panel_${panel.id}_${target.refId}`,
    expr: expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '1m'),
  }));
  const file = join(work, 'dashboard-rules.yml');
  writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
  assert.match(promtool('check', 'rules', file), new RegExp(`SUCCESS: ${rules.length} rules found`));
});

test('the alerting rules parse and read only metrics an app or RabbitMQ exports (stack/monitoring/alerts.yml)', async () => {
  assert.match(promtool('check', 'rules', join(monitoring, 'alerts.yml')), /SUCCESS: 6 rules found/);
  const known = await knownMetrics();
  const rules = parseYaml(readFileSync(join(monitoring, 'alerts.yml'), 'utf8')) as {
    groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
  };
  for (const rule of rules.groups.flatMap((g) => g.rules)) {
    for (const name of metricNames(rule.expr))
      assert.ok(known.get(name), `${rule.alert} reads ${name}, which nothing exports`);
  }
});

test('FleetcapDetection and FleetcapServerRefusals fire on a new incident or refusal, also one that makes a new series (promtool test rules)', () => {
  assert.match(promtool('test', 'rules', join(monitoring, 'alerts.test.yml')), /SUCCESS/);
});

test('every metric a panel reads is exported by an app (its real registry) or by RabbitMQ, and scraped', async () => {
  const known = await knownMetrics();
  const prom = parseYaml(readFileSync(join(monitoring, 'prometheus.yml'), 'utf8')) as {
    scrape_configs: Array<{ job_name: string }>;
  };
  const jobs = new Set(prom.scrape_configs.map((j) => j.job_name));
  const used = new Set<string>();
  for (const { panel, expr } of promTargets) {
    const names = metricNames(expr);
    assert.ok(names.length > 0, `"${panel.title}": ${expr} reads a metric`);
    for (const name of names) {
      const job = known.get(name);
      assert.ok(job, `"${panel.title}" reads ${name}, which nothing exports (${expr})`);
      assert.ok(
        job === '*' || jobs.has(job),
        `"${panel.title}" reads ${name} of ${job}, which Prometheus does not scrape`,
      );
      used.add(name);
    }
  }
  // The panels the dashboard is for.
  for (const name of [
    'fleetcap_splitcap_packets_total',
    'fleetcap_splitcap_sessions_scheduled_total',
    'rabbitmq_queue_messages_ready',
    'fleetcap_worker_verdicts_total',
    'fleetcap_worker_alerts_total',
    'fleetcap_worker_enqueue_to_commit_seconds_bucket',
    'fleetcap_worker_batch_seconds_bucket',
    'fleetcap_agent_kernel_drops',
  ]) {
    assert.ok(used.has(name), `a panel shows ${name}`);
  }
});

test("the queue-depth panel's queue pattern matches the pipeline's queue names", () => {
  const q = sessionQueueNames('fleetcap', 5000);
  const queueExprs = promTargets.filter(({ expr }) => expr.includes('rabbitmq_queue_'));
  assert.ok(queueExprs.length > 0);
  for (const { expr } of queueExprs) {
    const m = /queue=~(?:`([^`]*)`|"((?:[^"\\]|\\.)*)")/.exec(expr);
    assert.ok(m, `${expr} selects the queues by name`);
    const pattern = m[1] ?? JSON.parse(`"${m[2]}"`);
    const re = new RegExp(`^(?:${pattern})$`); // PromQL regexes are anchored
    for (const name of [q.ready, q.delay, q.dead, sessionQueueNames('other', 250).delay]) {
      assert.match(name, re, `${expr} shows ${name}`);
    }
    assert.doesNotMatch('amq.gen-abc', re);
  }
});

test('the dashboard: panels on the provisioned data sources, ids unique, no two panels overlap', () => {
  assert.equal(dashboard.uid, 'fleetcap-overview');
  const byUid = new Map(datasources.map((d) => [d.uid, d]));
  const ids = new Set<number>();
  for (const p of dashboard.panels) {
    assert.ok(!ids.has(p.id), `panel id ${p.id} is unique`);
    ids.add(p.id);
    for (const ref of [p.datasource, ...(p.targets ?? []).map((t) => t.datasource)]) {
      assert.ok(ref, `"${p.title}" names its data source`);
      assert.equal(
        byUid.get(ref.uid)?.type,
        ref.type,
        `"${p.title}": data source ${ref.uid} is provisioned, of type ${ref.type}`,
      );
    }
  }
  const cells = new Map<string, string>();
  for (const p of dashboard.panels) {
    const { x, y, w, h } = p.gridPos;
    assert.ok(x >= 0 && x + w <= 24, `"${p.title}" fits the 24 columns`);
    for (let i = x; i < x + w; i++) {
      for (let j = y; j < y + h; j++) {
        const other = cells.get(`${i},${j}`);
        assert.ok(!other, `"${p.title}" overlaps "${other}"`);
        cells.set(`${i},${j}`, p.title);
      }
    }
  }
});

// ---- Grafana provisioning --------------------------------------------------------------------------------------------

test("Grafana's provisioning parses; the MariaDB data source is the read-only fleetcap_report account", () => {
  const config = composeConfig();
  const { services } = config;
  const grafana = services.grafana!;
  const env = serviceEnv(grafana);
  // Grafana expands ${VAR} from its environment (each must be set there, or it would expand to nothing) and
  // $__file{path} to the file's text (a compose secret of the grafana service).
  const expand = (v: string) =>
    v.replace(/\$__file\{([^}]+)\}|\$\{(\w+)\}|\$(\w+)/g, (_m, file?: string, a?: string, b?: string) => {
      if (file !== undefined) {
        const host = serviceEnvOnHost({ ...grafana, environment: { F: file } }, config).F!;
        return readFileSync(host, 'utf8').trim();
      }
      const name = (a ?? b)!;
      assert.ok(name in env, `${name} is set in the grafana service's environment`);
      return env[name]!;
    });
  const strings = (v: unknown): string[] =>
    typeof v === 'string' ? [v] : v !== null && typeof v === 'object' ? Object.values(v).flatMap(strings) : [];
  for (const v of strings(datasources)) expand(v);

  // The account the migrations create (stack-init applies them with its environment) and the admin login.
  const initEnv = serviceEnvOnHost(services['stack-init']!, config);
  const accounts = loadAccounts(initEnv);
  const admin = loadConnections(initEnv).mysqlAdmin;

  const mysqls = datasources.filter((d) => d.type === 'mysql');
  assert.equal(mysqls.length, 1, 'one MariaDB data source');
  const db = mysqls[0]!;
  const user = expand(db.user ?? '');
  assert.equal(user, 'fleetcap_report');
  assert.equal(user, accounts.report.user, 'the reporting account the migrations create');
  assert.notEqual(user, admin.user, 'never the admin account');
  for (const role of accountRoles.filter((r) => r !== 'report')) assert.notEqual(user, accounts[role].user);
  assert.equal(expand(db.secureJsonData?.password ?? ''), accounts.report.password, "the reporting account's password");
  assert.ok(
    !JSON.stringify(db.jsonData ?? {}).includes(accounts.report.password),
    'the password only in secureJsonData',
  );
  assert.equal(expand(String(db.jsonData?.database ?? '')), 'fleetcap');
  assert.equal(
    expand(db.url),
    `${initEnv.FLEETCAP_MYSQL_HOST}:${initEnv.FLEETCAP_MYSQL_PORT}`,
    'the MariaDB the apps use',
  );
  assert.ok(services[db.url.split(':')[0]!], `${db.url}: a compose service`);

  const proms = datasources.filter((d) => d.type === 'prometheus');
  assert.equal(proms.length, 1);
  assert.equal(proms[0]!.url, 'http://prometheus:9090');
  assert.ok(proms[0]!.isDefault);

  // The provisioning folder, the dashboards folder and the home dashboard are where the container looks.
  assert.equal(repoMount(grafana, '/etc/grafana/provisioning').repoPath, 'stack/monitoring/grafana/provisioning');
  const providers = (
    parseYaml(readFileSync(join(monitoring, 'grafana/provisioning/dashboards/fleetcap.yml'), 'utf8')) as {
      providers: Array<{ type: string; options: { path: string } }>;
    }
  ).providers;
  assert.equal(providers.length, 1);
  assert.equal(providers[0]!.type, 'file');
  const dashboards = repoMount(grafana, providers[0]!.options.path);
  assert.equal(dashboards.repoPath, 'stack/monitoring/grafana/dashboards');
  const home = env.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '';
  assert.ok(home.startsWith(`${dashboards.target}/`), `the home dashboard ${home} is a provisioned one`);
  assert.ok(existsSync(join(dashboards.source, home.slice(dashboards.target.length + 1))), `${home} exists`);
});

// ---- The SQL panels ---------------------------------------------------------------------------------------------------

test('the SQL panels read the reporting views, and run as fleetcap_report on the local MariaDB', async () => {
  const views = new Set(['report_verdicts_per_label_hour', 'report_alerts', 'report_alerts_per_hour']);
  const read = new Set<string>();
  assert.ok(sqlTargets.length >= 2, 'the dashboard has its SQL tables');
  for (const { panel, target, sql } of sqlTargets) {
    assert.equal(panel.type, 'table');
    assert.equal(target.format, 'table');
    assert.match(sql, /^\s*SELECT\b/i, `"${panel.title}" only reads`);
    for (const m of sql.matchAll(/\bFROM\s+([A-Za-z0-9_]+)/gi)) read.add(m[1]!);
  }
  for (const v of views) assert.ok(read.has(v), `a table panel reads ${v}`);

  assertStackUp();
  const conn = await mysqlAs('report');
  try {
    for (const { panel, sql } of sqlTargets) {
      // Grafana's MySQL macros, as Grafana expands them (FROM_UNIXTIME of the dashboard's range).
      const now = Math.floor(Date.now() / 1000);
      const from = `FROM_UNIXTIME(${now - 86_400})`;
      const to = `FROM_UNIXTIME(${now})`;
      const run = sql
        .replace(/\$__timeFilter\(([^)]+)\)/g, `$1 BETWEEN ${from} AND ${to}`)
        .replace(/\$__timeFrom\(\)/g, from)
        .replace(/\$__timeTo\(\)/g, to);
      assert.doesNotMatch(run, /\$/, `"${panel.title}": every macro expanded`);
      await conn.query(run); // a missing column, view or grant throws
    }
  } finally {
    await conn.end();
  }
});
