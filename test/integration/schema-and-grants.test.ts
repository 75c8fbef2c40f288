// Migrations apply each once, and the database accounts hold least privilege.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { migrationVariables } from '@fleetcap/lib/db/accounts';
import { defaultMigrationsDir, loadMigrations, migrate } from '@fleetcap/lib/db/migrate';
import { assertStackUp, mysqlAs, uniqueId } from '../helpers/stack.ts';

before(() => assertStackUp());

async function schemaFingerprint(): Promise<string> {
  const c = await mysqlAs('admin');
  try {
    const [cols] = await c.query(
      `SELECT table_name, column_name, column_type, is_nullable, column_default FROM information_schema.columns
       WHERE table_schema = DATABASE() ORDER BY table_name, column_name`,
    );
    const [mig] = await c.query('SELECT version, checksum, applied_at FROM schema_migrations ORDER BY version');
    const [grants] = await c.query(
      'SELECT grantee, table_name, privilege_type FROM information_schema.table_privileges WHERE table_schema = DATABASE() ORDER BY 1, 2, 3',
    );
    return JSON.stringify([cols, mig, grants]);
  } finally {
    await c.end();
  }
}

describe('migrations', () => {
  test('applying the migrations a second time changes nothing', async () => {
    const beforeRun = await schemaFingerprint();
    const c = await mysqlAs('admin', { multipleStatements: true });
    try {
      const result = await migrate(c, loadMigrations(defaultMigrationsDir, migrationVariables()));
      assert.deepEqual(result.applied, []);
      assert.ok(result.alreadyApplied.length >= 3);
    } finally {
      await c.end();
    }
    assert.equal(await schemaFingerprint(), beforeRun);
  });

  test('a new migration is applied once; an applied one that was edited is refused', async () => {
    const db = uniqueId('fleetcap_migtest').replace(/-/g, '_');
    const dir = mkdtempSync(join(tmpdir(), 'migrations-'));
    writeFileSync(join(dir, '001_first.sql'), 'CREATE TABLE t1 (id INT PRIMARY KEY);\nINSERT INTO t1 VALUES (1);');
    const admin = await mysqlAs('admin', { multipleStatements: true });
    try {
      await admin.query(`CREATE DATABASE ${db}`);
      await admin.changeUser({ database: db });
      assert.deepEqual((await migrate(admin, loadMigrations(dir, {}))).applied, ['001_first.sql']);
      writeFileSync(join(dir, '002_second.sql'), "INSERT INTO t1 VALUES ('{{X}}');");
      assert.deepEqual((await migrate(admin, loadMigrations(dir, { X: '2' }))).applied, ['002_second.sql']);
      assert.deepEqual((await migrate(admin, loadMigrations(dir, { X: '2' }))).applied, []);
      const [rows] = await admin.query('SELECT id FROM t1 ORDER BY id');
      assert.deepEqual(rows, [{ id: 1 }, { id: 2 }]);
      writeFileSync(join(dir, '001_first.sql'), 'CREATE TABLE t1 (id BIGINT PRIMARY KEY);');
      await assert.rejects(
        migrate(admin, loadMigrations(dir, { X: '2' })),
        /001_first\.sql was changed after it was applied/,
      );
      assert.throws(() => loadMigrations(dir, {}), /unknown placeholder \{\{X\}\}/);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${db}`);
      await admin.end();
    }
  });

  test('a verdict is unique per agent, session key and occurrence, and community_id is indexed', async () => {
    const c = await mysqlAs('admin');
    try {
      const [indexes] = await c.query(
        `SELECT index_name, non_unique, GROUP_CONCAT(column_name ORDER BY seq_in_index) AS columns
         FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = 'session_verdict'
         GROUP BY index_name, non_unique`,
      );
      const byName = new Map(
        (indexes as Array<{ index_name: string; non_unique: number; columns: string }>).map((i) => [i.index_name, i]),
      );
      const unique = [...byName.values()].filter((i) => Number(i.non_unique) === 0).map((i) => i.columns);
      // With the occurrence's day, which sql/016 partitions by (a function of the occurrence: still one row each).
      assert.deepEqual(unique.sort(), ['agent_id,session_key,occurrence,occurrence_day', 'id,occurrence_day']);
      assert.ok(
        [...byName.values()].some((i) => i.columns.startsWith('community_id')),
        'an index leads with community_id',
      );
    } finally {
      await c.end();
    }
  });

  test('every UPDATE of sniffer_config increases the revision, even one that does not name it', async () => {
    const c = await mysqlAs('admin');
    const agent = uniqueId('rev');
    try {
      await c.query(
        "INSERT INTO sniffer_config (agent_id, device, splitcap_url) VALUES (?, 'lo', 'http://127.0.0.1:1')",
        [agent],
      );
      await c.query("UPDATE sniffer_config SET bpf_filter = 'tcp' WHERE agent_id = ?", [agent]);
      await c.query('UPDATE sniffer_config SET revision = 1 WHERE agent_id = ?', [agent]);
      const [rows] = await c.query('SELECT revision FROM sniffer_config WHERE agent_id = ?', [agent]);
      assert.equal((rows as Array<{ revision: number }>)[0]?.revision, 3, 'a lower revision cannot be written back');
    } finally {
      await c.query('DELETE FROM sniffer_config WHERE agent_id = ?', [agent]);
      await c.end();
    }
  });
});

describe('least-privilege accounts', () => {
  const verdict = (key: string) => [
    key,
    0,
    'agent-x',
    'tcp',
    '10.0.0.1',
    40000,
    '10.0.0.2',
    80,
    '2026-01-01 00:00:00',
    '2026-01-01 00:00:01',
    3,
    180,
    'benign',
    0.9,
    'test',
    'delay',
  ];
  const insertVerdict = `INSERT IGNORE INTO session_verdict (session_key, occurrence, agent_id, protocol, client_addr, client_port,
    server_addr, server_port, first_packet_at, last_packet_at, packets, bytes, label, score, model_version, reason)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

  test('the worker inserts and reads verdicts idempotently, and cannot touch configs or delete verdicts', async () => {
    const w = await mysqlAs('worker');
    const key = uniqueId('tcp|grant-test');
    try {
      const [first] = await w.execute(insertVerdict, verdict(key));
      const [second] = await w.execute(insertVerdict, verdict(key));
      assert.equal((first as { affectedRows: number }).affectedRows, 1);
      assert.equal(
        (second as { affectedRows: number }).affectedRows,
        0,
        'the unique session occurrence makes a replay a no-op',
      );
      const [rows] = await w.query('SELECT COUNT(*) AS n FROM session_verdict WHERE session_key = ?', [key]);
      assert.equal((rows as Array<{ n: number }>)[0]?.n, 1);
      // Another agent's session of the same key and occurrence (the conversation seen from the other end) is a row
      // of its own.
      const otherAgent = verdict(key);
      otherAgent[2] = 'agent-y';
      const [third] = await w.execute(insertVerdict, otherAgent);
      assert.equal(
        (third as { affectedRows: number }).affectedRows,
        1,
        'the unique key is agent + session + occurrence',
      );
      await assert.rejects(w.query("UPDATE sniffer_config SET bpf_filter = 'x'"), {
        code: 'ER_TABLEACCESS_DENIED_ERROR',
      });
      await assert.rejects(w.query('SELECT * FROM sniffer_config'), { code: 'ER_TABLEACCESS_DENIED_ERROR' });
      await assert.rejects(w.query('DELETE FROM session_verdict WHERE session_key = ?', [key]), {
        code: 'ER_TABLEACCESS_DENIED_ERROR',
      });
      // It may complete a row's connection record (migration 006) and change nothing else of it.
      await assert.rejects(w.query("UPDATE session_verdict SET label = 'x' WHERE session_key = ?", [key]), {
        code: 'ER_COLUMNACCESS_DENIED_ERROR',
      });
      const [completed] = await w.query(
        "UPDATE session_verdict SET conn_state = 'SF', completed_at = CURRENT_TIMESTAMP(6) WHERE session_key = ?",
        [key],
      );
      assert.ok((completed as { affectedRows: number }).affectedRows >= 1, 'the record columns can be completed');
    } finally {
      await w.end();
      const a = await mysqlAs('admin');
      await a.query('DELETE FROM session_verdict WHERE session_key = ?', [key]);
      await a.end();
    }
  });

  test('the worker writes and deletes alert packets, reads the retention, and cannot change either policy', async () => {
    const w = await mysqlAs('worker');
    const key = uniqueId('tcp|alert-grant');
    try {
      await w.execute(insertVerdict, verdict(key));
      const [rows] = await w.query('SELECT id, alert FROM session_verdict WHERE session_key = ?', [key]);
      const { id, alert } = (rows as Array<{ id: number; alert: number }>)[0]!;
      assert.equal(alert, 0, 'a row without alert gets the argmax rule: benign is no alert');
      const insertPacket =
        'INSERT IGNORE INTO alert_packet (verdict_id, packet_index, ts_us, wire_length, linktype, frame) VALUES (?, 0, 1, 60, 1, ?)';
      const [stored] = await w.query(insertPacket, [id, Buffer.from('frame')]);
      const [again] = await w.query(insertPacket, [id, Buffer.from('frame')]);
      assert.deepEqual(
        [(stored as { affectedRows: number }).affectedRows, (again as { affectedRows: number }).affectedRows],
        [1, 0],
        'a packet is stored once',
      );
      const [policy] = await w.query("SELECT retention_days FROM retention_policy WHERE data = 'alert_packet'");
      assert.ok((policy as Array<{ retention_days: number }>)[0]!.retention_days >= 1);
      await assert.rejects(w.query("UPDATE retention_policy SET retention_days = 1 WHERE data = 'alert_packet'"), {
        code: 'ER_TABLEACCESS_DENIED_ERROR',
      });
      await assert.rejects(w.query('UPDATE alert_packet SET ts_us = 2 WHERE verdict_id = ?', [id]), {
        code: 'ER_TABLEACCESS_DENIED_ERROR',
      });
      const [deleted] = await w.query('DELETE FROM alert_packet WHERE verdict_id = ?', [id]);
      assert.equal((deleted as { affectedRows: number }).affectedRows, 1);
      const a = await mysqlAs('admin');
      try {
        await assert.rejects(
          a.query("UPDATE retention_policy SET retention_days = 0 WHERE data = 'alert_packet'"),
          /ck_retention_days/,
          'a retention under one day is refused by SQL',
        );
      } finally {
        await a.end();
      }
    } finally {
      await w.end();
      const a = await mysqlAs('admin');
      await a.query('DELETE FROM session_verdict WHERE session_key = ?', [key]);
      await a.end();
    }
  });

  test('the reporting account reads tables and views and can write nothing', async () => {
    const r = await mysqlAs('report');
    try {
      for (const view of [
        'report_verdicts_per_label_hour',
        'report_verdicts_per_agent',
        'report_top_talkers',
        'report_malicious_sessions',
        'report_agents',
        'report_conversations_multi_agent',
        'report_alerts',
        'report_alerts_per_hour',
        'alert_packet',
        'retention_policy',
      ]) {
        await r.query(`SELECT * FROM ${view} LIMIT 1`);
      }
      const denied = { code: 'ER_TABLEACCESS_DENIED_ERROR' };
      await assert.rejects(r.execute(insertVerdict, verdict(uniqueId('tcp|report'))), denied);
      await assert.rejects(r.query("UPDATE sniffer_config SET bpf_filter = 'x'"), denied);
      await assert.rejects(r.query('DELETE FROM agent_status'), denied);
      await assert.rejects(r.query("INSERT INTO agent_status (agent_id) VALUES ('x')"), denied);
      await assert.rejects(r.query('CREATE TABLE sneaky (id INT)'), /denied/);
    } finally {
      await r.end();
    }
  });

  test('config-sync reads configs and writes status, nothing more', async () => {
    const s = await mysqlAs('configsync');
    const agent = uniqueId('cs');
    try {
      await s.query('SELECT * FROM sniffer_config LIMIT 1');
      await s.query('INSERT INTO agent_status (agent_id, online) VALUES (?, 1) ON DUPLICATE KEY UPDATE online = 1', [
        agent,
      ]);
      await s.query('UPDATE agent_status SET state = ? WHERE agent_id = ?', ['capturing', agent]);
      await assert.rejects(s.query("UPDATE sniffer_config SET bpf_filter = 'x'"), {
        code: 'ER_TABLEACCESS_DENIED_ERROR',
      });
      await assert.rejects(s.query('SELECT * FROM session_verdict LIMIT 1'), { code: 'ER_TABLEACCESS_DENIED_ERROR' });
    } finally {
      await s.end();
      const a = await mysqlAs('admin');
      await a.query('DELETE FROM agent_status WHERE agent_id = ?', [agent]);
      await a.end();
    }
  });

  test('the console account signs people in and enrols or revokes agents, nothing more (migration 012)', async () => {
    const c = await mysqlAs('console');
    const agent = uniqueId('cons').slice(0, 60);
    const denied = /denied/;
    try {
      await c.query('SELECT id, name, role, password_hash, disabled_at FROM console_user LIMIT 1');
      await c.query('UPDATE console_user SET last_sign_in_at = NOW(3) WHERE id = 0');
      await assert.rejects(c.query("UPDATE console_user SET role = 'admin' WHERE id = 0"), denied);
      await assert.rejects(
        c.query("INSERT INTO console_user (name, role, password_hash) VALUES ('x', 'admin', 'x')"),
        denied,
      );
      await c.query(
        "INSERT INTO agent_credential (agent_id, token_sha256, zk_digest, note) VALUES (?, SHA2(?, 256), 'agent.x:y', 'grant test')",
        [agent, agent],
      );
      await c.query('UPDATE agent_credential SET revoked_at = NOW(3) WHERE agent_id = ?', [agent]);
      await c.query('SELECT id, agent_id, note, created_at, not_after, revoked_at FROM agent_credential LIMIT 1');
      await assert.rejects(c.query('SELECT token_sha256 FROM agent_credential LIMIT 1'), denied);
      await assert.rejects(c.query('SELECT zk_digest FROM agent_credential LIMIT 1'), denied);
      await assert.rejects(c.query('DELETE FROM agent_credential WHERE agent_id = ?', [agent]), denied);
      await assert.rejects(c.query('SELECT id FROM session_verdict LIMIT 1'), denied);
      await assert.rejects(c.query("UPDATE sniffer_config SET bpf_filter = 'x'"), denied);
    } finally {
      await c.end();
      const a = await mysqlAs('admin');
      await a.query('DELETE FROM agent_credential WHERE agent_id = ?', [agent]);
      await a.end();
    }
  });

  test('the CDC account has the replication grants Debezium documents, and no write grant', async () => {
    const c = await mysqlAs('cdc');
    try {
      const [rows] = await c.query('SHOW GRANTS');
      const grants = (rows as Array<Record<string, string>>).map((r) => Object.values(r)[0]).join('\n');
      for (const p of ['SELECT', 'RELOAD', 'SHOW DATABASES', 'REPLICATION SLAVE', 'BINLOG MONITOR', 'LOCK TABLES']) {
        assert.match(grants, new RegExp(p), `CDC account has ${p}`);
      }
      assert.doesNotMatch(grants, /INSERT|UPDATE|DELETE|ALL PRIVILEGES/);
      await c.query('SHOW BINARY LOGS');
    } finally {
      await c.end();
    }
  });
});
