// Where an insert's server time goes (issue 20, item 8): the worker's write path (storeVerdictsWithAlertPackets,
// batches of 256) into a database with every migration, first as it is, then without one thing at a time: the
// rollup triggers, the binlog (this session's statements only), the secondary indexes of session_verdict, the
// partitions. Each variant is measured in MariaDB server CPU-seconds per 1,000 rows (from /proc: the machine's
// other load leaves it), median of 3 rounds in turn.
//   node --import tsx --conditions=fleetcap-source bench/verdict-storage/insert-cost.ts [--batches 40] [--rows 0]
// --rows N first grows the table to N rows (INSERT … SELECT), so that the indexes are of that size.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { migrationVariables } from '@fleetcap/lib/db/accounts';
import { loadMigrations, migrate } from '@fleetcap/lib/db/migrate';
import type { LoadedSession } from '@fleetcap/lib/session-store/reader';
import { storeVerdictsWithAlertPackets } from '@fleetcap/session-worker/alert-packets';
import type { VerdictRow } from '@fleetcap/session-worker/verdict-writer';
import mysql from 'mysql2/promise';
import { connections, repoRoot } from '../../test/helpers/stack.ts';
import { dropTriggers, restoreTriggers, saveVerdictTriggers } from './verdict-triggers.ts';

const { values } = parseArgs({
  options: { batches: { type: 'string', default: '40' }, rows: { type: 'string', default: '0' } },
});
const BATCHES = Number(values.batches);
const GROW = Number(values.rows);
const DB = 'fleetcap_insert_cost_bench';
const BATCH = 256;
const stackHome = process.env.FLEETCAP_STACK_HOME ?? join(repoRoot, '.stack');
function serverCpuSeconds(): number {
  const pid = readFileSync(join(stackHome, 'run', 'mariadb.pid'), 'utf8').trim();
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
const admin = await mysql.createConnection({
  ...connections.mysql,
  ...connections.mysqlAdmin,
  multipleStatements: true,
});
await admin.query(`DROP DATABASE IF EXISTS ${DB}; CREATE DATABASE ${DB}`);
const db = await mysql.createConnection({
  ...connections.mysql,
  ...connections.mysqlAdmin,
  database: DB,
  multipleStatements: true,
  timezone: 'Z',
});
await migrate(db, loadMigrations(join(repoRoot, 'sql'), migrationVariables()));
if (GROW > 0)
  for (let start = 1; start <= GROW; start += 250_000)
    await db.query(
      `INSERT INTO session_verdict (session_key, occurrence, agent_id, community_id, protocol, client_addr, client_port,
         server_addr, server_port, first_packet_at, last_packet_at, packets, bytes, label, score, alert, unknown,
         model_version, reason, alert_label)
       SELECT CONCAT('g/', s.seq), 1000 + s.seq, CONCAT('agent-', s.seq % 200), CONCAT('1:g', s.seq), 'tcp',
              CONCAT('10.', s.seq % 250, '.', (s.seq DIV 250) % 250, '.1'), 1024 + s.seq % 60000,
              CONCAT('192.0.2.', s.seq % 200), 443, UTC_TIMESTAMP(6) - INTERVAL (s.seq % 500000) SECOND,
              UTC_TIMESTAMP(6) - INTERVAL (s.seq % 500000) SECOND, 10, 4000,
              IF(s.seq % 10 = 0, 'sqli', 'benign'), 0.5, s.seq % 10 = 0, 0, 'g', 'closed', IF(s.seq % 10 = 0, 'sqli', NULL)
       FROM seq_${start}_to_${Math.min(GROW, start + 249_999)} s`,
    );

const FRAME = Buffer.alloc(200, 0x41);
let serial = 0;
let withAlerts = true;
function batch(): VerdictRow[] {
  return Array.from({ length: BATCH }, () => {
    const n = ++serial;
    const firstUs = Date.now() * 1000 - (n % 60_000_000);
    const alert = withAlerts && n % 10 === 0;
    const session = {
      message: { key: `tcp/172.16.${(n >> 8) & 255}.${n & 255}/${1024 + (n % 60000)}/198.51.100.${n % 250}/443/${n}` },
      proto: 'tcp',
      client: { address: `172.16.${(n >> 8) & 255}.${n & 255}`, port: 1024 + (n % 60000) },
      server: { address: `198.51.100.${n % 250}`, port: 443 },
      agent: `agent-${n % 200}`,
      communityId: `1:c${n}`,
      occurrence: firstUs,
      firstUs,
      lastUs: firstUs + 2_000_000,
      packetsSeen: 12,
      bytes: 4000,
      packets: alert
        ? Array.from({ length: 10 }, (_, i) => ({
            seq: i,
            direction: i % 2,
            tsUs: firstUs + i,
            wireLength: 200,
            payloadLength: 146,
            tcpFlags: 0x18,
            linktype: 1,
            frame: FRAME,
          }))
        : [],
    } as unknown as LoadedSession;
    return {
      session,
      label: alert ? 'sqli' : 'benign',
      score: 0.9,
      alert,
      unknown: false,
      modelVersion: 'b',
      reason: 'closed',
    };
  });
}

/** Server CPU-seconds per 1,000 rows of `BATCHES` batches, one writer. */
async function cost(setup: string[]): Promise<number> {
  const pool = mysql.createPool({
    ...connections.mysql,
    ...connections.mysqlAdmin,
    database: DB,
    connectionLimit: 1,
    timezone: 'Z',
  });
  pool.on('connection', (c) => {
    for (const s of setup) c.query(s);
  });
  await storeVerdictsWithAlertPackets(pool, batch());
  const cpu0 = serverCpuSeconds();
  let rows = 0;
  for (let i = 0; i < BATCHES; i++) rows += (await storeVerdictsWithAlertPackets(pool, batch())).inserted;
  const cpu = serverCpuSeconds() - cpu0;
  await pool.end();
  return (cpu / rows) * 1000;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const triggers = await saveVerdictTriggers(db);
const [indexRows] = await db.query<mysql.RowDataPacket[]>(
  `SELECT index_name, GROUP_CONCAT(column_name ORDER BY seq_in_index) AS cols FROM information_schema.statistics
   WHERE table_schema = DATABASE() AND table_name = 'session_verdict' AND non_unique = 1 GROUP BY index_name`,
);
const variants: Array<{ name: string; before?: () => Promise<void>; setup?: string[]; after?: () => Promise<void> }> = [
  { name: 'as it is' },
  {
    name: 'no alerts in the batches (no alert_packet rows, no id look-up)',
    before: async () => {
      withAlerts = false;
    },
    after: async () => {
      withAlerts = true;
    },
  },
  { name: 'without the binlog (SET sql_log_bin = 0)', setup: ['SET SESSION sql_log_bin = 0'] },
  {
    name: 'without the rollup triggers',
    before: async () => {
      await dropTriggers(db, triggers);
    },
    after: async () => {
      await restoreTriggers(db, triggers);
    },
  },
  {
    name: `without the ${indexRows.length} non-unique secondary indexes`,
    before: async () => {
      await db.query(`ALTER TABLE session_verdict ${indexRows.map((i) => `DROP KEY ${i.index_name}`).join(', ')}`);
    },
    after: async () => {
      await db.query(
        `ALTER TABLE session_verdict ${indexRows.map((i) => `ADD KEY ${i.index_name} (${i.cols})`).join(', ')}`,
      );
    },
  },
];
const results = new Map<string, number[]>();
for (let round = 0; round < 3; round++)
  for (const v of variants) {
    await v.before?.();
    const c = await cost(v.setup ?? []);
    await v.after?.();
    results.set(v.name, [...(results.get(v.name) ?? []), c]);
  }
console.log(`\n# Server CPU per 1,000 rows, ${BATCHES} batches of ${BATCH}, one writer, table grown to ${GROW} rows\n`);
console.log('| variant | server CPU-ms per 1,000 rows (median of 3) | rows per server CPU-second |');
console.log('|---|---|---|');
for (const [name, xs] of results) {
  const ms = median(xs) * 1000;
  console.log(`| ${name} | ${ms.toFixed(0)} | ${(1_000_000 / ms).toFixed(0)} |`);
}
await db.end();
await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
await admin.end();
