// Verdict storage at fleet scale (sql/016): the tables that grow with traffic partitioned by day, on a database that
// already holds rows; one verdict row per session occurrence through the worker's write path; retention as a drop of
// whole days by the maintenance the worker runs; and the plans of the reporting views and console queries over their
// time windows held to their indexes. Each test works in a database of its own (dropped after).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { migrationVariables } from '@fleetcap/lib/db/accounts';
import { defaultMigrationsDir, loadMigrations, migrate } from '@fleetcap/lib/db/migrate';
import { occurrenceDay } from '@fleetcap/lib/db/partition-days';
import type { LoadedSession } from '@fleetcap/lib/session-store/reader';
import { storeVerdictsWithAlertPackets } from '@fleetcap/session-worker/alert-packets';
import { maintainPartitions } from '@fleetcap/session-worker/retention';
import { insertVerdicts, type VerdictRow } from '@fleetcap/session-worker/verdict-writer';
import mysql from 'mysql2/promise';
import { accounts, assertStackUp, connections, mysqlAs, uniqueId } from '../helpers/stack.ts';

before(() => assertStackUp());

const DAY_MS = 86_400_000;
const TABLES = ['session_verdict', 'alert_packet', 'detection', 'packet_drop'];
const databases: string[] = [];

async function scratchDatabase(upTo = Number.POSITIVE_INFINITY): Promise<{ db: string; admin: mysql.Connection }> {
  const db = uniqueId('fleetcap_parttest').replace(/-/g, '_');
  databases.push(db);
  const admin = await mysqlAs('admin', { multipleStatements: true, timezone: 'Z' });
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.changeUser({ database: db });
  await migrate(
    admin,
    loadMigrations(defaultMigrationsDir, migrationVariables()).filter((m) => m.version <= upTo),
  );
  return { db, admin };
}

after(async () => {
  const admin = await mysqlAs('admin', { multipleStatements: true });
  try {
    for (const db of databases)
      await admin.query(
        `DROP DATABASE IF EXISTS ${db}; DELETE FROM mysql.tables_priv WHERE Db = '${db}';
         DELETE FROM mysql.columns_priv WHERE Db = '${db}'; DELETE FROM mysql.procs_priv WHERE Db = '${db}'; FLUSH PRIVILEGES`,
      );
  } finally {
    await admin.end();
  }
});

const toDays = (ms: number) => Math.floor(ms / DAY_MS) + 719_528;

function session(key: string, occurrenceUs: number, firstUs = occurrenceUs, alert = false): VerdictRow {
  return {
    session: {
      message: { key },
      proto: 'tcp',
      client: { address: '10.0.0.1', port: 40000 },
      server: { address: '192.0.2.1', port: 80 },
      agent: 'agent-part',
      communityId: `1:${key}`,
      occurrence: occurrenceUs,
      firstUs,
      lastUs: firstUs + 1_000_000,
      packetsSeen: 2,
      bytes: 120,
      packets: [0, 1].map((i) => ({
        seq: i,
        direction: 0 as const,
        tsUs: firstUs + i,
        wireLength: 60,
        payloadLength: 0,
        tcpFlags: 2,
        linktype: 1,
        frame: Buffer.from([i]),
      })),
    } as unknown as LoadedSession,
    label: alert ? 'portscan' : 'benign',
    score: 0.9,
    alert,
    unknown: false,
    modelVersion: 'test',
    reason: 'closed',
  };
}

const pool = (db: string, role: 'worker' | 'report') =>
  mysql.createPool({ ...connections.mysql, ...accounts[role], database: db, connectionLimit: 2, timezone: 'Z' });

async function partitions(admin: mysql.Connection, table: string): Promise<string[]> {
  const [rows] = await admin.query<mysql.RowDataPacket[]>(
    `SELECT PARTITION_NAME AS name FROM information_schema.PARTITIONS
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY PARTITION_ORDINAL_POSITION`,
    [table],
  );
  return rows.map((r) => String(r.name));
}

describe('verdict storage partitioned by day (sql/016)', () => {
  test('016 partitions a database that holds rows, keeps every row, and gives each its day', async () => {
    const { admin } = await scratchDatabase(15);
    const now = Date.now();
    const us = (ms: number) => ms * 1000;
    const worker = pool(admin.config.database!, 'worker');
    try {
      // Rows of today, 10 and 40 days ago through the worker's write path as it was before 016 (no day column), one
      // without an occurrence (written by hand), packets of an alert, a detection and a drop count.
      const old = [session('k-today', us(now), us(now), true), session('k-10', us(now - 10 * DAY_MS))];
      old.push(session('k-40', us(now - 40 * DAY_MS), us(now - 40 * DAY_MS), true));
      const columns =
        '(session_key, occurrence, agent_id, protocol, client_addr, client_port, server_addr, server_port, first_packet_at, last_packet_at, packets, bytes, label, score, alert, model_version, reason)';
      for (const r of old)
        await admin.query(
          `INSERT INTO session_verdict ${columns} VALUES (?, ?, 'agent-part', 'tcp', '10.0.0.1', 1, '192.0.2.1', 80, ?, ?, 1, 1, ?, 0.9, ?, 'test', 'closed')`,
          [
            r.session.message.key,
            r.session.occurrence,
            new Date(r.session.firstUs / 1000),
            new Date(r.session.firstUs / 1000),
            r.label,
            r.alert ? 1 : 0,
          ],
        );
      await admin.query(
        `INSERT INTO session_verdict ${columns} VALUES ('k-hand', 0, 'agent-part', 'tcp', '10.0.0.1', 1, '192.0.2.1', 80, ?, ?, 1, 1, 'benign', 0.5, 0, 'test', 'closed')`,
        [new Date(now - 5 * DAY_MS), new Date(now - 5 * DAY_MS)],
      );
      await admin.query(
        `INSERT INTO alert_packet (verdict_id, packet_index, ts_us, wire_length, linktype, frame)
         SELECT id, 0, occurrence, 60, 1, 'x' FROM session_verdict WHERE alert = 1`,
      );
      const incidentUs = us(now - 3 * DAY_MS);
      await admin.query(
        `INSERT INTO detection (incident_id, detector, source_addr, target, window_seconds, threshold, peak_count, sessions,
           distinct_targets, distinct_sources, targets, sources, agents, evidence, first_seen, last_seen, version)
         VALUES (?, 'vertical_scan', '10.0.0.1', '192.0.2.1', 300, 10, 20, 20, 20, 1, '[]', '[]', '[]', '[]', ?, ?, 1)`,
        [`vertical_scan|10.0.0.1|192.0.2.1|${incidentUs}`, new Date(now - 4 * DAY_MS), new Date(now)],
      );
      await admin.query(
        "INSERT INTO packet_drop (bucket_start, agent_id, reason, packets) VALUES (?, 'agent-part', 'x', 3)",
        [new Date(now - 2 * DAY_MS)],
      );

      await migrate(admin, loadMigrations(defaultMigrationsDir, migrationVariables()));

      const [rows] = await admin.query<mysql.RowDataPacket[]>(
        'SELECT session_key, occurrence_day FROM session_verdict ORDER BY session_key',
      );
      assert.deepEqual(
        rows.map((r) => [r.session_key, Number(r.occurrence_day)]),
        [
          ['k-10', toDays(now - 10 * DAY_MS)],
          ['k-40', toDays(now - 40 * DAY_MS)],
          ['k-hand', toDays(now - 5 * DAY_MS)],
          ['k-today', toDays(now)],
        ],
        "every row kept, each with its occurrence's day (a row without one: its first packet's)",
      );
      const [packets] = await admin.query<mysql.RowDataPacket[]>(
        'SELECT v.session_key, p.occurrence_day FROM alert_packet p JOIN session_verdict v ON v.id = p.verdict_id ORDER BY 1',
      );
      assert.deepEqual(
        packets.map((r) => [r.session_key, Number(r.occurrence_day)]),
        [
          ['k-40', toDays(now - 40 * DAY_MS)],
          ['k-today', toDays(now)],
        ],
        "alert packets copy their verdict's day",
      );
      const [incident] = await admin.query<mysql.RowDataPacket[]>('SELECT incident_day FROM detection');
      assert.equal(Number(incident[0]!.incident_day), toDays(now - 3 * DAY_MS), 'the day of the µs ending incident_id');
      for (const t of TABLES) {
        const names = await partitions(admin, t);
        assert.equal(names[0], 'p_before', t);
        assert.equal(names.at(-1), 'p_future', t);
        assert.ok(names.length >= 6, `${t}: ${names.join(',')}`);
      }
      const [rollup] = await admin.query<mysql.RowDataPacket[]>('SELECT SUM(alerts) AS n FROM alert_count_hour');
      assert.equal(Number(rollup[0]!.n), 2, 'the rollup counts the two alerts');

      // One row per session occurrence through the worker's write path: a replay is a no-op, also when a late batch
      // moved the first packet earlier (first_packet_at is not in the key; the occurrence's day is).
      const again = session('k-today', us(now), us(now) - 5_000_000, true);
      assert.equal(await insertVerdicts(worker, [again]), 0, 'the replay of a stored occurrence inserts nothing');
      const stored = await storeVerdictsWithAlertPackets(worker, [again, session('k-new', us(now), us(now), true)]);
      assert.deepEqual([stored.inserted, stored.alertSessions], [1, 2]);
      const replay = await storeVerdictsWithAlertPackets(worker, [session('k-new', us(now), us(now), true)]);
      assert.deepEqual([replay.inserted, replay.packetsInserted], [0, 0], 'a redelivered batch stores nothing twice');
      const [counts] = await admin.query<mysql.RowDataPacket[]>(
        `SELECT v.session_key, COUNT(DISTINCT v.id) AS verdicts, COUNT(p.packet_index) AS packets,
                MIN(p.occurrence_day) AS day FROM session_verdict v LEFT JOIN alert_packet p ON p.verdict_id = v.id
          WHERE v.session_key IN ('k-today', 'k-new') GROUP BY v.session_key ORDER BY 1`,
      );
      assert.deepEqual(
        counts.map((r) => [r.session_key, Number(r.verdicts), Number(r.packets), Number(r.day)]),
        [
          ['k-new', 1, 2, occurrenceDay(us(now), 0)],
          ['k-today', 1, 2, toDays(now)],
        ],
        'one verdict row each; the packets the replay found missing were added (INSERT IGNORE), none twice',
      );
    } finally {
      await worker.end();
      await admin.end();
    }
  });

  test('the maintenance adds the days ahead and drops the days older than retention, with their rollup hours', async () => {
    const { db, admin } = await scratchDatabase();
    const worker = pool(db, 'worker');
    const now = Date.now();
    try {
      const rows = [40, 31, 29, 0].map((daysAgo) =>
        session(`k-${daysAgo}`, (now - daysAgo * DAY_MS) * 1000, (now - daysAgo * DAY_MS) * 1000, true),
      );
      await storeVerdictsWithAlertPackets(worker, rows);
      const result = await maintainPartitions(worker);
      assert.equal(result.outcome, 'done');
      const verdicts = result.outcome === 'done' ? result.tables.find((t) => t.table === 'session_verdict') : undefined;
      assert.ok(verdicts && verdicts.dropped >= 1, JSON.stringify(result));
      const [left] = await admin.query<mysql.RowDataPacket[]>('SELECT session_key FROM session_verdict ORDER BY 1');
      assert.deepEqual(
        left.map((r) => r.session_key),
        ['k-0', 'k-29'],
        'the days more than 30 days (retention_policy) before today are gone; a row 31 days old was in one of them',
      );
      const [packets] = await admin.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM alert_packet');
      assert.equal(
        Number(packets[0]!.n),
        4,
        "the packets of the kept verdicts only (alert_packet's retention: 30 days)",
      );
      const [rollup] = await admin.query<mysql.RowDataPacket[]>('SELECT SUM(alerts) AS n FROM alert_count_hour');
      assert.equal(Number(rollup[0]!.n), 2, 'the rollup no longer counts the dropped alerts');
      const names = await partitions(admin, 'session_verdict');
      const today = toDays(now);
      const ahead = new Date((today + 3 - 719_528) * DAY_MS).toISOString().slice(0, 10).replace(/-/g, '');
      assert.ok(names.includes(`p${ahead}`), `a partition 3 days ahead: ${names.join(',')}`);
      const [status] = await admin.query<mysql.RowDataPacket[]>(
        "SELECT last_run_at, partitions FROM partition_maintenance WHERE table_name = 'session_verdict'",
      );
      assert.ok(status[0]!.last_run_at instanceof Date && Number(status[0]!.partitions) >= 4);

      // One run at a time: a second caller while the lock is held gets no rows (skipped).
      const holder = await mysqlAs('admin');
      try {
        await holder.query("SELECT GET_LOCK('fleetcap_partition_maintenance', 5)");
        assert.deepEqual(await maintainPartitions(worker), { outcome: 'skipped' });
      } finally {
        await holder.end();
      }
      // The worker runs it as the procedure's definer: it may not change a partition itself.
      await assert.rejects(worker.query(`ALTER TABLE session_verdict DROP PARTITION p${ahead}`), {
        code: 'ER_TABLEACCESS_DENIED_ERROR',
      });
      // A table without a retention row keeps its days, and is named.
      await admin.query("DELETE FROM retention_policy WHERE data = 'packet_drop'");
      const kept = await maintainPartitions(worker);
      assert.ok(kept.outcome === 'done' && kept.withoutPolicy.includes('packet_drop'), JSON.stringify(kept));
    } finally {
      await worker.end();
      await admin.end();
    }
  });

  test('017: report_verdicts_per_label_hour from its rollup equals what the old view computed from the rows, through inserts, updates, deletes and a dropped day', async () => {
    // sql/010's view, computed from the rows.
    const fromRows = `SELECT DATE_FORMAT(first_packet_at, '%Y-%m-%d %H:00:00') AS hour, label, COUNT(*) AS sessions,
        SUM(alert) AS alerts, SUM(unknown) AS unknown, SUM(packets) AS packets, SUM(bytes) AS bytes,
        AVG(score) AS avg_score, SUM(detection_id IS NOT NULL) AS detection_alerts
      FROM session_verdict GROUP BY DATE_FORMAT(first_packet_at, '%Y-%m-%d %H:00:00'), label ORDER BY hour, label`;
    const fromView = 'SELECT * FROM report_verdicts_per_label_hour ORDER BY hour, label';
    const { db, admin } = await scratchDatabase(16);
    const worker = pool(db, 'worker');
    const report = pool(db, 'report');
    const same = async (when: string) => {
      await sameRows(`${when} (report_verdicts_per_label_hour)`, fromRows, fromView);
    };
    const sameRows = async (when: string, rowsSql: string, viewSql: string) => {
      const [expected] = await admin.query<mysql.RowDataPacket[]>(rowsSql);
      const [got] = await report.query<mysql.RowDataPacket[]>(viewSql);
      assert.ok(expected.length > 0, when);
      assert.equal(got.length, expected.length, `${when}: one row per hour and label`);
      got.forEach((row, i) => {
        const want = expected[i]!;
        assert.ok(Math.abs(Number(row.avg_score) - Number(want.avg_score)) < 1e-9, `${when}: avg_score of ${row.hour}`);
        assert.deepEqual({ ...row, avg_score: 0 }, { ...want, avg_score: 0 }, `${when}: ${row.hour} ${row.label}`);
      });
    };
    const now = Date.now();
    try {
      // Before 017: rows by hand (several hours, labels, scores) and through the worker; 017 fills its rollup.
      await admin.query(
        `INSERT INTO session_verdict (session_key, occurrence, agent_id, protocol, client_addr, client_port, server_addr,
           server_port, first_packet_at, last_packet_at, packets, bytes, label, score, alert, unknown, model_version,
           reason, alert_label)
         SELECT CONCAT('h', s.seq), 0, 'agent-h', 'tcp', '10.0.0.2', 1000 + s.seq, '192.0.2.2', 80,
                UTC_TIMESTAMP(6) - INTERVAL (s.seq * 7) MINUTE, UTC_TIMESTAMP(6) - INTERVAL (s.seq * 7) MINUTE,
                s.seq % 9, s.seq * 100, ELT(1 + s.seq % 3, 'benign', 'sqli', 'portscan'), (s.seq % 7) / 7,
                s.seq % 3 <> 0, s.seq % 5 = 0, 't', 'closed', IF(s.seq % 3 <> 0, ELT(1 + s.seq % 3, 'benign', 'sqli', 'portscan'), NULL)
         FROM seq_1_to_300 s`,
      );
      await storeVerdictsWithAlertPackets(
        worker,
        [0, 1, 2, 30].map((h) =>
          session(`w-${h}`, (now - h * 3_600_000) * 1000, (now - h * 3_600_000) * 1000, h % 2 === 0),
        ),
      );
      await migrate(admin, loadMigrations(defaultMigrationsDir, migrationVariables()));
      await same('after the fill');
      // Through the triggers: the worker's batches (one replayed: counted once), a detector marking evidence rows,
      // a label changed by hand, rows deleted, and a row's connection record completed (nothing counted changes).
      const batch = Array.from({ length: 20 }, (_, i) =>
        session(`t-${i}`, (now - i * 1_000_000) * 1000, (now - i * 1_000_000) * 1000, i % 4 === 0),
      );
      await storeVerdictsWithAlertPackets(worker, batch);
      await storeVerdictsWithAlertPackets(worker, batch);
      await admin.query(
        "UPDATE session_verdict SET alert = 1, alert_reason = 'detection', alert_label = 'bruteforce', detection_id = 'd|x|1' WHERE session_key LIKE 't-1%'",
      );
      await admin.query(
        "UPDATE session_verdict SET label = 'synflood', score = 0.25 WHERE session_key IN ('h10', 'h11')",
      );
      await admin.query("UPDATE session_verdict SET conn_state = 'SF' WHERE session_key LIKE 'h2%'");
      await admin.query("DELETE FROM session_verdict WHERE session_key LIKE 'h3%'");
      await same('after inserts, updates and deletes');
      // A day dropped by retention takes its hours out of the rollup.
      await admin.query("UPDATE retention_policy SET retention_days = 1 WHERE data = 'session_verdict'");
      const dropped = await maintainPartitions(worker);
      assert.equal(dropped.outcome, 'done');
      await same('after a day was dropped');
      const [plan] = await report.query<mysql.RowDataPacket[]>(
        `EXPLAIN ${fromView.replace('ORDER BY hour, label', 'WHERE hour >= ?')}`,
        [new Date(now - 86_400_000)],
      );
      assert.ok(
        plan.some((r) => r.table === 'verdict_count_hour') && plan.every((r) => r.table !== 'session_verdict'),
        `the view reads the rollup only: ${JSON.stringify(plan)}`,
      );
    } finally {
      await worker.end();
      await report.end();
      await admin.end();
    }
  });

  test('the views over their time windows and the console queries read indexes, no full scan of a big table', async () => {
    const { db, admin } = await scratchDatabase();
    const report = pool(db, 'report');
    try {
      // 30,000 rows over a week (10% alerts), so that the optimizer's choice is the one it makes on a big table.
      const nowUs = Date.now() * 1000;
      await admin.query(
        `INSERT INTO session_verdict (session_key, occurrence, agent_id, community_id, protocol, client_addr, client_port,
           server_addr, server_port, first_packet_at, last_packet_at, packets, bytes, label, score, alert, model_version,
           reason, alert_reason, alert_label)
         SELECT CONCAT('k', s.seq), ${nowUs} - (s.seq * 2654435761) % 604800000000, CONCAT('agent-', s.seq % 50),
                CONCAT('1:', s.seq), 'tcp', CONCAT('10.0.', s.seq % 250, '.1'), 1024 + s.seq % 60000,
                CONCAT('192.0.2.', s.seq % 200), 80,
                FROM_UNIXTIME((${nowUs} - (s.seq * 2654435761) % 604800000000) / 1000000),
                FROM_UNIXTIME((${nowUs} - (s.seq * 2654435761) % 604800000000) / 1000000 + 2),
                10, 4000, IF(s.seq % 10 = 0, 'sqli', 'benign'), 0.9, s.seq % 10 = 0, 't', 'closed',
                IF(s.seq % 10 = 0, 'model', NULL), IF(s.seq % 10 = 0, 'sqli', NULL)
         FROM seq_1_to_30000 s`,
      );
      await admin.query('ANALYZE TABLE session_verdict, alert_packet');
      const hourAgo = new Date(Date.now() - 3_600_000);
      const windowed: Array<[string, unknown[]]> = [
        [
          'SELECT * FROM report_sessions WHERE first_packet_at >= ? ORDER BY first_packet_at DESC LIMIT 1000',
          [hourAgo],
        ],
        ['SELECT * FROM report_alerts WHERE first_packet_at >= ? ORDER BY first_packet_at DESC LIMIT 100', [hourAgo]],
        [
          'SELECT * FROM report_malicious_sessions WHERE first_packet_at >= ? ORDER BY first_packet_at DESC LIMIT 100',
          [hourAgo],
        ],
        ['SELECT * FROM report_conversations_multi_agent WHERE first_packet_at >= ? LIMIT 100', [hourAgo]],
        // The console's alerts page (apps/console/src/queries.ts) names its index; the session page reads by id.
        [
          `SELECT id FROM session_verdict FORCE INDEX (ix_alert_time_class) WHERE alert = 1 AND first_packet_at >= ?
            ORDER BY first_packet_at DESC, alert_label DESC, id DESC LIMIT 51`,
          [hourAgo],
        ],
        ['SELECT * FROM session_verdict WHERE id = ?', [1]],
        ["SELECT id FROM session_verdict WHERE community_id = '1:7' ORDER BY first_packet_at, id LIMIT 100", []],
      ];
      for (const [sql, params] of windowed) {
        const [plan] = await report.query<mysql.RowDataPacket[]>(`EXPLAIN ${sql}`, params);
        const scans = plan.filter(
          (r) =>
            ['ALL', 'index'].includes(String(r.type)) &&
            /^(v|o|e|p|session_verdict|alert_packet)$/.test(String(r.table)),
        );
        assert.deepEqual(scans, [], `${sql}\n${JSON.stringify(plan, null, 1)}`);
      }
    } finally {
      await report.end();
      await admin.end();
    }
  });
});
