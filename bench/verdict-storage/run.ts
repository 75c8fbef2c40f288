// Benchmark: verdict storage at fleet scale (issue 20, item 8). 1,000 sessions/s is 86 M verdict rows a day; the
// tables are partitioned by day (sql/016). At each size (1 M and 10 M rows, a week of sessions: the full run) it
// measures
//   - the sustained insert rate through the worker's own write path (storeVerdictsWithAlertPackets: the multi-row
//     INSERT IGNORE of a batch of 256 verdicts and the packets of its alerts, one transaction, as the worker's
//     account), with several writers at once as several workers would (goal ≥ 5,000 rows/s);
//   - each reporting view over its time window and each console page's database queries (the functions the pages
//     call, apps/console/src/queries.ts, through the reporting account), median of 5 (goal < 1 s);
//   - each query's plan (EXPLAIN): a full scan of a big table is flagged.
// The peer, in the same run: the same insert path into the same tables without their partitions (REMOVE
// PARTITIONING: the keys and columns of sql/016), at the same size (the ratio says what partitioning costs an
// insert); the slope from 1 M to 10 M is stated for 100 M.
// The rows go into databases of their own on the stack's MariaDB (fleetcap_storage_bench, and _peer), dropped at
// the end, never the shared fleetcap database.
//   node --import tsx --conditions=fleetcap-source bench/verdict-storage/run.ts [--rows 1000000,10000000]
//     [--insert-seconds 20] [--writers 4] [--short]   (--short: 200,000 and 1,000,000 rows, 8 s of inserts)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAlertFilters } from '@fleetcap/console/alert-filters';
import { bucketSeconds } from '@fleetcap/console/label-chart';
import * as q from '@fleetcap/console/queries';
import { migrationVariables } from '@fleetcap/lib/db/accounts';
import { loadMigrations, migrate } from '@fleetcap/lib/db/migrate';
import type { PacketRecord } from '@fleetcap/lib/session-store/layout';
import type { LoadedSession } from '@fleetcap/lib/session-store/reader';
import { storeVerdictsWithAlertPackets } from '@fleetcap/session-worker/alert-packets';
import type { VerdictRow } from '@fleetcap/session-worker/verdict-writer';
import mysql from 'mysql2/promise';
import { accounts, connections, repoRoot } from '../../test/helpers/stack.ts';
import { dropTriggers, restoreTriggers, saveVerdictTriggers } from './verdict-triggers.ts';

const { values } = parseArgs({
  options: {
    rows: { type: 'string' },
    'insert-seconds': { type: 'string' },
    writers: { type: 'string', default: '4' },
    short: { type: 'boolean', default: false },
    /** Leave both databases for a look at the plans (drop them later: DROP DATABASE fleetcap_storage_bench…). */
    'keep-database': { type: 'boolean', default: false },
    /** Skip the unpartitioned peer (its load doubles the run's time). */
    'no-peer': { type: 'boolean', default: false },
  },
});
const SIZES = (values.rows ?? (values.short ? '200000,1000000' : '1000000,10000000')).split(',').map(Number);
const INSERT_SECONDS = Number(values['insert-seconds'] ?? (values.short ? 8 : 20));
const WRITERS = Number(values.writers);
const BATCH = 256;
const RUNS = 5;
const DAYS = 7;
const AGENTS = 200;
const LABELS = ['portscan', 'sqli', 'bruteforce', 'synflood', 'slowloris'];
const DB = 'fleetcap_storage_bench';
const PEER_DB = `${DB}_peer`;
const nowMs = Date.now();
const nowUs = nowMs * 1000;
const INSERT_ROUNDS = 3;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));

const admin = await mysql.createConnection({
  ...connections.mysql,
  ...connections.mysqlAdmin,
  multipleStatements: true,
  timezone: 'Z',
});

async function dropDatabase(name: string): Promise<void> {
  await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  // DROP DATABASE keeps the table, column and routine grants the migrations gave on it.
  await admin.query(
    `DELETE FROM mysql.tables_priv WHERE Db = '${name}'; DELETE FROM mysql.columns_priv WHERE Db = '${name}';
     DELETE FROM mysql.procs_priv WHERE Db = '${name}'; FLUSH PRIVILEGES`,
  );
}

/** A database with every migration; the peer's tables then without their partitions (the same keys and columns). */
async function createDatabase(name: string, partitioned = true): Promise<mysql.Connection> {
  await dropDatabase(name);
  await admin.query(`CREATE DATABASE ${name}`);
  const db = await mysql.createConnection({
    ...connections.mysql,
    ...connections.mysqlAdmin,
    database: name,
    multipleStatements: true,
    timezone: 'Z',
  });
  await migrate(db, loadMigrations(join(repoRoot, 'sql'), migrationVariables()));
  if (!partitioned)
    for (const table of ['session_verdict', 'alert_packet', 'detection', 'packet_drop'])
      await db.query(`ALTER TABLE ${table} REMOVE PARTITIONING`);
  return db;
}

/**
 * Grows session_verdict to `rows` rows with one INSERT … SELECT per 250,000 over MariaDB's sequence engine: a week
 * of sessions back from now (a multiplicative hash spreads them; 20% in the last two hours: an attack burst), 10%
 * alerts of five classes, 200 agents. The secondary indexes are dropped for the load and built again after it, in
 * one ALTER (a sorted build, several times faster than updating them row by row); the table ends as the migrations
 * made it.
 */
async function growTo(db: mysql.Connection, from: number, rows: number): Promise<number> {
  const t0 = Date.now();
  const spanUs = DAYS * 86_400_000_000;
  const burstUs = 2 * 3_600_000_000;
  const offsetUs = `IF((s.seq DIV 10) % 10 < 2, (s.seq * 7919) % ${burstUs}, (s.seq * 2654435761) % ${spanUs})`;
  const [indexRows] = await db.query(
    `SELECT index_name, non_unique, GROUP_CONCAT(column_name ORDER BY seq_in_index) AS cols
     FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = 'session_verdict'
       AND index_name <> 'PRIMARY' GROUP BY index_name, non_unique`,
  );
  const indexes = indexRows as Array<{ index_name: string; non_unique: number; cols: string }>;
  await db.query(`ALTER TABLE session_verdict ${indexes.map((i) => `DROP KEY ${i.index_name}`).join(', ')}`);
  // The rollups' triggers (sql/014, sql/017) are left out of the load too (the rollup is counted again after it) and made
  // again as they were.
  const triggers = await saveVerdictTriggers(db);
  await dropTriggers(db, triggers);
  const chunk = 250_000;
  for (let start = from + 1; start <= rows; start += chunk) {
    const end = Math.min(rows, start + chunk - 1);
    await db.query(
      `INSERT INTO session_verdict (session_key, occurrence, agent_id, community_id, protocol, client_addr, client_port,
         server_addr, server_port, first_packet_at, last_packet_at, packets, bytes, label, score, alert, unknown,
         model_version, reason, alert_reason, alert_label, conn_state, history, service)
       SELECT CONCAT('tcp/10.', s.seq % 250, '.', (s.seq DIV 250) % 250, '.1/', 1024 + s.seq % 60000, '/192.0.2.', s.seq % 200, '/', 80),
              ${nowUs} - (${offsetUs}), CONCAT('agent-', s.seq % ${AGENTS}), CONCAT('1:', TO_BASE64(UNHEX(SHA1(s.seq)))), 'tcp',
              CONCAT('10.', s.seq % 250, '.', (s.seq DIV 250) % 250, '.1'), 1024 + s.seq % 60000,
              CONCAT('192.0.2.', s.seq % 200), IF(s.seq % 3 = 0, 443, 80),
              ? - INTERVAL (${offsetUs}) MICROSECOND,
              ? - INTERVAL (${offsetUs}) MICROSECOND + INTERVAL 2 SECOND,
              10, 4000, IF(s.seq % 10 = 0, ELT(1 + (s.seq DIV 10) % 5, ${LABELS.map((l) => `'${l}'`).join(', ')}), 'benign'),
              0.5 + (s.seq % 50) / 100, s.seq % 10 = 0, 0, 'bench', 'closed',
              IF(s.seq % 10 = 0, 'model', NULL), IF(s.seq % 10 = 0, ELT(1 + (s.seq DIV 10) % 5, ${LABELS.map((l) => `'${l}'`).join(', ')}), NULL),
              'SF', 'ShADadFf', 'http'
       FROM seq_${start}_to_${end} s`,
      [new Date(nowMs), new Date(nowMs)],
    );
  }
  await db.query(
    `ALTER TABLE session_verdict ${indexes
      .map((i) => `ADD ${Number(i.non_unique) === 0 ? 'UNIQUE ' : ''}KEY ${i.index_name} (${i.cols})`)
      .join(', ')}`,
  );
  await restoreTriggers(db, triggers);
  // The rollup of alerts per hour, counted again from the rows.
  await db.query('DELETE FROM alert_count_hour');
  await db.query(
    `INSERT INTO alert_count_hour (hour_start, alert_label, slot, alerts)
     SELECT DATE_FORMAT(first_packet_at, '%Y-%m-%d %H:00:00'), COALESCE(alert_label, label), 0, COUNT(*)
     FROM session_verdict WHERE alert = 1 GROUP BY 1, 2`,
  );
  // And the verdicts per hour and label (sql/017).
  await db.query('DELETE FROM verdict_count_hour');
  await db.query(
    `INSERT INTO verdict_count_hour (hour_start, label, slot, sessions, alerts, unknown, packets, bytes, score_sum,
       detection_alerts)
     SELECT DATE_FORMAT(first_packet_at, '%Y-%m-%d %H:00:00'), label, 0, COUNT(*), SUM(alert), SUM(unknown),
            SUM(packets), SUM(bytes), SUM(score), SUM(detection_id IS NOT NULL)
     FROM session_verdict GROUP BY 1, 2`,
  );
  await db.query('ANALYZE TABLE session_verdict, alert_packet, detection');
  return (Date.now() - t0) / 1000;
}

/** 2,000 detections over the week and 200 agents' configs and status (the console's other pages). */
async function fleet(db: mysql.Connection): Promise<void> {
  const agents = Array.from({ length: AGENTS }, (_, i) => `agent-${i}`);
  await db.query('INSERT INTO sniffer_config (agent_id, device, bpf_filter, splitcap_url) VALUES ?', [
    agents.map((a) => [a, 'eth0', 'tcp', 'https://splitcap:8080']),
  ]);
  await db.query(
    'INSERT INTO agent_status (agent_id, online, applied_revision, state, captured, kernel_drops, last_seen) VALUES ?',
    [agents.map((a, i) => [a, i % 7 !== 0, 1, i % 7 === 0 ? 'error' : 'capturing', 1_000_000 + i, i % 5, new Date()])],
  );
  await db.query(
    `INSERT INTO detection (incident_id, detector, source_addr, target, window_seconds, threshold, peak_count, sessions,
       distinct_targets, distinct_sources, targets, sources, agents, evidence, first_seen, last_seen, version)
     SELECT CONCAT('bench|', s.seq, '|', ${nowUs} - s.seq * 300000000), ELT(1 + s.seq % 5, 'horizontal_scan','vertical_scan','syn_flood','brute_force','beaconing'),
            CONCAT('10.', s.seq % 250, '.0.1'), CONCAT('192.0.2.', s.seq % 200), 300, 10, 20, 40, 20, 1, '[]', '[]',
            CONCAT('["agent-', s.seq % ${AGENTS}, '"]'), '[]', ? - INTERVAL (s.seq * 300) SECOND,
            ? - INTERVAL (s.seq * 300) SECOND + INTERVAL 60 SECOND, 1
     FROM seq_1_to_2000 s`,
    [new Date(nowMs), new Date(nowMs)],
  );
}

const FRAME = Buffer.alloc(200, 0x41);
let serial = 0;
/** A batch of the worker's verdict rows of new sessions of the last minute, 10% alerts with 10 kept packets each. */
function verdictBatch(): VerdictRow[] {
  return Array.from({ length: BATCH }, () => {
    const n = ++serial;
    const firstUs = Date.now() * 1000 - (n % 60_000_000);
    const alert = n % 10 === 0;
    const packets: PacketRecord[] = alert
      ? Array.from({ length: 10 }, (_, i) => ({
          seq: i,
          direction: (i % 2) as 0 | 1,
          tsUs: firstUs + i * 1000,
          wireLength: FRAME.length,
          payloadLength: 146,
          tcpFlags: 0x18,
          linktype: 1,
          frame: FRAME,
        }))
      : [];
    const session = {
      message: {
        key: `tcp/172.16.${(n >> 8) & 255}.${n & 255}/${1024 + (n % 60000)}/198.51.100.${n % 250}/443/w${process.pid}-${n}`,
      },
      proto: 'tcp',
      client: { address: `172.16.${(n >> 8) & 255}.${n & 255}`, port: 1024 + (n % 60000) },
      server: { address: `198.51.100.${n % 250}`, port: 443 },
      agent: `agent-${n % AGENTS}`,
      communityId: `1:bench${n}`,
      occurrence: firstUs,
      firstUs,
      lastUs: firstUs + 2_000_000,
      packetsSeen: 12,
      bytes: 4000,
      packets,
    } as unknown as LoadedSession;
    return {
      session,
      label: alert ? LABELS[n % LABELS.length]! : 'benign',
      score: 0.9,
      alert,
      unknown: false,
      modelVersion: 'bench',
      reason: 'closed',
    };
  });
}

const stackHome = process.env.FLEETCAP_STACK_HOME ?? join(repoRoot, '.stack');
/** CPU seconds MariaDB's server has used (user + system), from /proc: a figure the machine's other load leaves. */
function serverCpuSeconds(): number {
  const pid = readFileSync(join(stackHome, 'run', 'mariadb.pid'), 'utf8').trim();
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface InsertRate {
  rowsPerSecond: number;
  /** Rows per CPU-second of the MariaDB server: the rate one free core would sustain. */
  rowsPerServerCpuSecond: number;
  rows: number;
  p99BatchMs: number;
}

/** Rows committed per second by `WRITERS` writers, each storing batch after batch for `seconds`. */
async function insertRate(database: string, seconds: number): Promise<InsertRate> {
  const pool = mysql.createPool({
    ...connections.mysql,
    ...accounts.worker,
    database,
    connectionLimit: WRITERS,
    timezone: 'Z',
  });
  try {
    await storeVerdictsWithAlertPackets(pool, verdictBatch()); // warm the pool
    const until = Date.now() + seconds * 1000;
    const t0 = Date.now();
    const cpu0 = serverCpuSeconds();
    let rows = 0;
    const batchMs: number[] = [];
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        while (Date.now() < until) {
          const b0 = performance.now();
          const stored = await storeVerdictsWithAlertPackets(pool, verdictBatch());
          batchMs.push(performance.now() - b0);
          rows += stored.inserted;
        }
      }),
    );
    const wall = (Date.now() - t0) / 1000;
    const cpu = serverCpuSeconds() - cpu0;
    batchMs.sort((a, b) => a - b);
    return {
      rowsPerSecond: rows / wall,
      rowsPerServerCpuSecond: rows / cpu,
      rows,
      p99BatchMs: batchMs[Math.min(batchMs.length - 1, Math.floor(batchMs.length * 0.99))] ?? 0,
    };
  } finally {
    await pool.end();
  }
}

function medianRate(rs: InsertRate[]): InsertRate {
  return {
    rowsPerSecond: median(rs.map((r) => r.rowsPerSecond)),
    rowsPerServerCpuSecond: median(rs.map((r) => r.rowsPerServerCpuSecond)),
    rows: rs.reduce((a, r) => a + r.rows, 0),
    p99BatchMs: median(rs.map((r) => r.p99BatchMs)),
  };
}

interface Timed {
  name: string;
  window: string;
  ms: number;
  /** EXPLAIN rows that scan a big table whole (type ALL or index on session_verdict / alert_packet). */
  fullScans: string[];
}

const BIG = /^(v|o|e|p|session_verdict|alert_packet|<derived\d+>)$/;

async function fullScans(conn: mysql.Pool, sql: string, params: unknown[]): Promise<string[]> {
  if (!/^\s*SELECT/i.test(sql)) return [];
  const [plan] = await conn.query<mysql.RowDataPacket[]>(`EXPLAIN ${sql}`, params);
  return plan
    .filter((r) => (r.type === 'ALL' || r.type === 'index') && BIG.test(String(r.table)) && Number(r.rows) > 10_000)
    .map((r) => `${r.table}: ${r.type} ${r.key ?? ''} (${r.rows} rows)`);
}

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** Every reporting view over its time window, and the console pages' queries. */
async function queryTimes(database: string): Promise<Timed[]> {
  const report = mysql.createPool({
    ...connections.mysql,
    ...accounts.report,
    database,
    connectionLimit: 6,
    timezone: 'Z',
  });
  const hourAgo = new Date(nowMs - 3_600_000);
  const dayAgo = new Date(nowMs - 86_400_000);
  const hourText = (d: Date) => `${d.toISOString().slice(0, 13).replace('T', ' ')}:00:00`;
  const views: Array<{ name: string; window: string; sql: string; params: unknown[] }> = [
    {
      name: 'report_verdicts_per_label_hour',
      window: 'last 24 h',
      sql: 'SELECT * FROM report_verdicts_per_label_hour WHERE hour >= ?',
      params: [hourText(dayAgo)],
    },
    {
      name: 'report_alerts_per_hour',
      window: 'last 24 h',
      sql: 'SELECT * FROM report_alerts_per_hour WHERE hour >= ?',
      params: [hourText(dayAgo)],
    },
    {
      name: 'report_verdicts_per_agent',
      window: 'all time (the view has no time column)',
      sql: 'SELECT * FROM report_verdicts_per_agent',
      params: [],
    },
    {
      name: 'report_top_talkers',
      window: 'all time (the view has no time column)',
      sql: 'SELECT * FROM report_top_talkers ORDER BY sessions DESC LIMIT 20',
      params: [],
    },
    {
      name: 'report_sessions',
      window: 'last hour, newest 1,000',
      sql: 'SELECT * FROM report_sessions WHERE first_packet_at >= ? ORDER BY first_packet_at DESC LIMIT 1000',
      params: [hourAgo],
    },
    {
      name: 'report_alerts',
      window: 'last hour, newest 100',
      sql: 'SELECT * FROM report_alerts WHERE first_packet_at >= ? ORDER BY first_packet_at DESC LIMIT 100',
      params: [hourAgo],
    },
    {
      name: 'report_malicious_sessions',
      window: 'last hour, newest 100',
      sql: 'SELECT * FROM report_malicious_sessions WHERE first_packet_at >= ? ORDER BY first_packet_at DESC LIMIT 100',
      params: [hourAgo],
    },
    {
      name: 'report_conversations_multi_agent',
      window: 'last hour',
      sql: 'SELECT * FROM report_conversations_multi_agent WHERE first_packet_at >= ? LIMIT 100',
      params: [hourAgo],
    },
    {
      name: 'report_detections',
      window: 'last 24 h',
      sql: 'SELECT * FROM report_detections WHERE last_seen >= ? ORDER BY last_seen DESC LIMIT 100',
      params: [dayAgo],
    },
    {
      name: 'report_detections_per_hour',
      window: 'last 24 h',
      sql: 'SELECT * FROM report_detections_per_hour WHERE hour >= ?',
      params: [hourText(dayAgo)],
    },
    {
      name: 'report_packet_drops_per_hour',
      window: 'last 24 h',
      sql: 'SELECT * FROM report_packet_drops_per_hour WHERE hour_start >= ?',
      params: [hourText(dayAgo)],
    },
    { name: 'report_agents', window: 'every agent', sql: 'SELECT * FROM report_agents', params: [] },
  ];
  const out: Timed[] = [];
  try {
    for (const v of views) {
      const ms = await timeIt(() => report.query(v.sql, v.params));
      out.push({ name: `view ${v.name}`, window: v.window, ms, fullScans: await fullScans(report, v.sql, v.params) });
    }
    const [newest] = await report.query<mysql.RowDataPacket[]>(
      'SELECT id FROM session_verdict WHERE first_packet_at >= ? AND alert = 1 ORDER BY first_packet_at DESC LIMIT 1',
      [hourAgo],
    );
    const sessionId = Number(newest[0]?.id);
    const labels = q.alertLabelsCache(0);
    const alertsPage = (query: Record<string, string>) => async () => {
      const f = parseAlertFilters(query, new Date(), 24);
      const bucket = bucketSeconds(f.from, f.to, 60, q.countsFromRollup(f) ? 3600 : 0);
      await labels(report);
      await Promise.all([q.alerts(report, f, 50), q.alertSummary(report, f, bucket), q.detections(report, f, 50)]);
    };
    const week = new Date(nowMs - DAYS * 86_400_000).toISOString().slice(0, 16);
    const to = new Date(nowMs + 60_000).toISOString().slice(0, 16);
    const pages: Array<{ name: string; window: string; run: () => Promise<unknown> }> = [
      { name: 'console /alerts', window: 'last 24 h (the default)', run: alertsPage({}) },
      { name: 'console /alerts', window: 'the week', run: alertsPage({ from: week, to }) },
      { name: 'console /alerts?agent=', window: 'last 24 h', run: alertsPage({ agent: 'agent-7' }) },
      { name: 'console /alerts?label=', window: 'the week', run: alertsPage({ label: 'sqli', from: week, to }) },
      { name: 'console /sessions/<id>', window: 'one session', run: () => q.session(report, sessionId) },
    ];
    for (const p of pages) out.push({ name: p.name, window: p.window, ms: await timeIt(p.run), fullScans: [] });
  } finally {
    await report.end();
  }
  return out;
}

interface SizeResult {
  rows: number;
  loadSeconds: number;
  insert: InsertRate;
  peerInsert?: InsertRate;
  queries: Timed[];
  partitions: number;
}

const results: SizeResult[] = [];
try {
  const db = await createDatabase(DB);
  await fleet(db);
  const peer = values['no-peer'] ? undefined : await createDatabase(PEER_DB, false);
  let have = 0;
  let peerHave = 0;
  for (const size of SIZES) {
    console.error(`growing session_verdict to ${size.toLocaleString()} rows…`);
    const loadSeconds = await growTo(db, have, size);
    have = size;
    if (peer) {
      console.error(`peer (not partitioned): growing to ${size.toLocaleString()} rows…`);
      await growTo(peer, peerHave, size);
      peerHave = size;
    }
    const queries = await queryTimes(DB);
    // Rounds of each in turn, so that a burst of the machine's other load falls on both: the medians are compared.
    const ours: InsertRate[] = [];
    const theirs: InsertRate[] = [];
    for (let round = 0; round < INSERT_ROUNDS; round++) {
      ours.push(await insertRate(DB, INSERT_SECONDS / INSERT_ROUNDS));
      if (peer) theirs.push(await insertRate(PEER_DB, INSERT_SECONDS / INSERT_ROUNDS));
    }
    const insert = medianRate(ours);
    const peerInsert = peer ? medianRate(theirs) : undefined;
    have += ours.reduce((a, r) => a + r.rows, 0);
    peerHave += theirs.reduce((a, r) => a + r.rows, 0);
    const [parts] = await db.query<mysql.RowDataPacket[]>(
      `SELECT COUNT(*) AS n FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE()
         AND TABLE_NAME = 'session_verdict' AND PARTITION_NAME IS NOT NULL`,
    );
    results.push({
      rows: size,
      loadSeconds,
      insert,
      ...(peerInsert ? { peerInsert } : {}),
      queries,
      partitions: Number(parts[0]!.n),
    });
    console.error(
      `  ${size.toLocaleString()} rows: loaded in ${loadSeconds.toFixed(0)} s, inserts ${insert.rowsPerSecond.toFixed(0)} rows/s`,
    );
  }
  await db.end();
  await peer?.end();
} finally {
  if (!values['keep-database']) {
    await dropDatabase(DB);
    await dropDatabase(PEER_DB);
  }
  await admin.end();
}

// The report.
const sizes = results.map((r) => r.rows);
const label = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000} M` : `${n / 1000} k`);
console.log(
  `\n# Verdict storage at fleet scale (sql/016: partitioned by day), ${WRITERS} writers, batches of ${BATCH}\n`,
);
console.log(`| measure | ${sizes.map((s) => `${label(s)} rows`).join(' | ')} | slope → 100 M | goal |`);
console.log(`|---|${sizes.map(() => '---|').join('')}---|---|`);
const slope = (xs: number[]) => {
  if (xs.length < 2) return '—';
  const [a, b] = [xs[0]!, xs[xs.length - 1]!];
  const decades = Math.log10(sizes[sizes.length - 1]! / sizes[0]!);
  const perDecade = (b / a) ** (1 / decades);
  const at100M = b * perDecade ** Math.log10(100_000_000 / sizes[sizes.length - 1]!);
  return `× ${perDecade.toFixed(2)} per 10 × rows → ${fmt(at100M)}`;
};
const rates = results.map((r) => r.insert.rowsPerSecond);
console.log(
  `| inserts through the worker's write path, rows/s (median of ${INSERT_ROUNDS} rounds, ${INSERT_SECONDS} s in all) | ${rates.map((r) => r.toFixed(0)).join(' | ')} | ${slope(rates)} | ≥ 5,000 |`,
);
const cpuRates = results.map((r) => r.insert.rowsPerServerCpuSecond);
console.log(
  `| the same, rows per CPU-second of the MariaDB server (one free core) | ${cpuRates.map((r) => r.toFixed(0)).join(' | ')} | ${slope(cpuRates)} | ≥ 5,000 |`,
);
if (results.every((r) => r.peerInsert)) {
  console.log(
    `| peer, rows per CPU-second of the server | ${results.map((r) => r.peerInsert!.rowsPerServerCpuSecond.toFixed(0)).join(' | ')} | | |`,
  );
  console.log(
    `| peer: the same inserts, tables not partitioned, rows/s | ${results.map((r) => r.peerInsert!.rowsPerSecond.toFixed(0)).join(' | ')} | | |`,
  );
  console.log(
    `| ratio partitioned / not partitioned | ${results.map((r) => `${(r.insert.rowsPerSecond / r.peerInsert!.rowsPerSecond).toFixed(2)} ×`).join(' | ')} | | |`,
  );
}
console.log(`| p99 of one batch's transaction, ms | ${results.map((r) => fmt(r.insert.p99BatchMs)).join(' | ')} | | |`);
const names = results[0]!.queries.map((x, i) => ({ i, name: x.name, window: x.window }));
for (const n of names) {
  const ms = results.map((r) => r.queries[n.i]!.ms);
  const scans = results.flatMap((r) => r.queries[n.i]!.fullScans);
  console.log(
    `| ${n.name}, ${n.window}, ms${scans.length ? ` (full scan: ${[...new Set(scans)].join('; ')})` : ''} | ${ms.map(fmt).join(' | ')} | ${slope(ms)} | < 1,000 |`,
  );
}
console.log(
  `\nLoad (INSERT … SELECT, indexes rebuilt after): ${results.map((r) => `${label(r.rows)} in ${r.loadSeconds.toFixed(0)} s`).join(', ')}; ` +
    `session_verdict partitions: ${results.map((r) => r.partitions).join(', ')}. Query times: median of ${RUNS}.`,
);
const slow = results.flatMap((r) => r.queries.filter((x) => x.ms >= 1000).map((x) => `${x.name} at ${label(r.rows)}`));
console.log(
  `bench-result: ${JSON.stringify({
    sizes,
    insertRowsPerSecond: rates,
    insertRowsPerServerCpuSecond: cpuRates,
    peerInsertRowsPerSecond: results.map((r) => r.peerInsert?.rowsPerSecond ?? null),
    slowQueries: slow,
    fullScans: [...new Set(results.flatMap((r) => r.queries.flatMap((x) => (x.fullScans.length ? [x.name] : []))))],
    queries: results.map((r) => ({
      rows: r.rows,
      times: r.queries.map((x) => ({ name: x.name, window: x.window, ms: x.ms })),
    })),
  })}`,
);
