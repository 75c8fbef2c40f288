// The hourly rollup of alerts (sql/014, alert_count_hour) against the real MariaDB: whatever writes session_verdict,
// through the accounts the apps use, the rollup's sum per hour and class equals a COUNT(*) of the rows, and the
// console's alerts summary reads the same numbers from it. The rows are the test's own, in hours of 1999 that no other
// test writes (each run picks its own day), and are deleted at the end.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseAlertFilters } from '@fleetcap/console/alert-filters';
import { alertSummary, alerts } from '@fleetcap/console/queries';
import { markEvidenceRows } from '@fleetcap/detector/evidence-alerts';
import mysql from 'mysql2/promise';
import { accounts, assertStackUp, connections, mysqlAs, uniqueId } from '../helpers/stack.ts';

const agent = uniqueId('acount').slice(0, 60);
const day = new Date(Date.UTC(1999, 0, 1 + Math.floor(Math.random() * 360)));
const hour = (h: number, minute = 0) => new Date(day.getTime() + h * 3_600_000 + minute * 60_000);
const sqlTime = (d: Date) => d.toISOString().replace('T', ' ').replace('Z', '');

let admin: mysql.Connection;
let workers: mysql.Connection[];
let detector: mysql.Pool;
let report: mysql.Pool;
let seq = 0;

interface Row {
  at: Date;
  label: string;
  alert: boolean;
  cid?: string;
}

/** A batch of verdict rows as the worker writes them (INSERT IGNORE on the natural key), as the worker account. */
async function insertAs(conn: mysql.Connection, rows: Array<Row & { key: string }>): Promise<number> {
  const [result] = await conn.query(
    `INSERT IGNORE INTO session_verdict (session_key, occurrence, agent_id, community_id, protocol, client_addr,
       client_port, server_addr, server_port, first_packet_at, last_packet_at, packets, bytes, label, score, alert,
       unknown, model_version, reason, alert_reason, alert_label)
     VALUES ?`,
    [
      rows.map((r) => [
        r.key,
        0,
        agent,
        r.cid ?? `1:${r.key}`,
        'tcp',
        '10.9.0.1',
        40000,
        '192.0.2.9',
        80,
        sqlTime(r.at),
        sqlTime(r.at),
        3,
        300,
        r.label,
        0.9,
        r.alert ? 1 : 0,
        0,
        'test',
        'closed',
        r.alert ? 'model' : null,
        r.alert ? r.label : null,
      ]),
    ],
  );
  return (result as { affectedRows: number }).affectedRows;
}

const rowsOf = (rows: Row[]) => rows.map((r) => ({ ...r, key: `tcp/acount/${agent}/${seq++}` }));

/** [hour, class, alerts] of the test's day: from the rows, and from the rollup. */
async function bothCounts(): Promise<{ rows: string[]; rollup: string[] }> {
  const [rows] = await admin.query(
    `SELECT DATE_FORMAT(first_packet_at, '%H') AS h, COALESCE(alert_label, label) AS c, COUNT(*) AS n
     FROM session_verdict WHERE agent_id = ? AND alert = 1 GROUP BY h, c ORDER BY h, c`,
    [agent],
  );
  const [rollup] = await admin.query(
    `SELECT DATE_FORMAT(hour_start, '%H') AS h, alert_label AS c, SUM(alerts) AS n FROM alert_count_hour
     WHERE hour_start >= ? AND hour_start < ? GROUP BY h, c HAVING n <> 0 ORDER BY h, c`,
    [day, hour(24)],
  );
  const text = (r: unknown) => (r as Array<{ h: string; c: string; n: number }>).map((x) => `${x.h} ${x.c} ${x.n}`);
  return { rows: text(rows), rollup: text(rollup) };
}

async function assertRollupExact(what: string): Promise<string[]> {
  const { rows, rollup } = await bothCounts();
  assert.deepEqual(rollup, rows, what);
  return rows;
}

before(async () => {
  assertStackUp();
  admin = await mysqlAs('admin', { database: connections.mysql.database, timezone: 'Z' });
  workers = await Promise.all([mysqlAs('worker', { timezone: 'Z' }), mysqlAs('worker', { timezone: 'Z' })]);
  const pool = (account: { user: string; password: string }) =>
    mysql.createPool({ ...connections.mysql, ...account, connectionLimit: 2, timezone: 'Z' });
  detector = pool(accounts.detector);
  report = pool(accounts.report);
});

after(async () => {
  await admin?.query('DELETE FROM session_verdict WHERE agent_id = ?', [agent]);
  const { rollup } = await bothCounts();
  assert.deepEqual(rollup, [], "the test's deletes took its alerts out of the rollup");
  await Promise.all([...(workers ?? []).map((w) => w.end()), detector?.end(), report?.end()]);
  await admin?.end();
});

describe('alert_count_hour (sql/014)', () => {
  test('counts what the worker stored, once: a replayed batch adds nothing, non-alerts nothing', async () => {
    const batch = rowsOf([
      { at: hour(1, 5), label: 'portscan', alert: true },
      { at: hour(1, 6), label: 'portscan', alert: true },
      { at: hour(1, 7), label: 'sqli', alert: true },
      { at: hour(2, 59), label: 'portscan', alert: true },
      { at: hour(1, 8), label: 'benign', alert: false },
    ]);
    assert.equal(await insertAs(workers[0]!, batch), 5);
    assert.equal(await insertAs(workers[0]!, batch), 0, 'the replay is ignored');
    assert.deepEqual(await assertRollupExact('after a batch and its replay'), [
      '01 portscan 2',
      '01 sqli 1',
      '02 portscan 1',
    ]);
  });

  test('two workers writing alerts of one hour and class side by side are both counted', async () => {
    const make = (n: number) =>
      rowsOf(Array.from({ length: n }, (_, i) => ({ at: hour(3, i % 60), label: 'bruteforce', alert: true })));
    const [a, b] = await Promise.all(
      Array.from({ length: 2 }, async (_, w) => {
        let stored = 0;
        for (let i = 0; i < 10; i++) {
          await workers[w]!.beginTransaction();
          stored += await insertAs(workers[w]!, make(20));
          await workers[w]!.commit();
        }
        return stored;
      }),
    );
    assert.equal(a! + b!, 400);
    const rows = await assertRollupExact('after concurrent transactions');
    assert.ok(rows.includes('03 bruteforce 400'), rows.join('; '));
  });

  test("the detector's marking moves rows between classes; other updates and deletes keep it exact", async () => {
    const cid = `1:acount-evidence-${agent}`;
    await insertAs(
      workers[0]!,
      rowsOf([
        { at: hour(4, 1), label: 'benign', alert: false, cid },
        { at: hour(4, 2), label: 'sqli', alert: true, cid },
      ]),
    );
    const marked = await markEvidenceRows(detector, {
      detectionId: `acount|${agent}`,
      detector: 'brute_force',
      alertLabel: 'bruteforce',
      communityIds: [cid],
      fromUs: hour(4).getTime() * 1000,
      toUs: hour(5).getTime() * 1000,
    });
    assert.equal(marked, 2);
    assert.ok((await assertRollupExact('after the marking')).includes('04 bruteforce 2'));
    // The worker's completion of a row's connection record changes no count.
    await workers[1]!.query(
      `UPDATE session_verdict SET conn_state = 'SF', completed_at = CURRENT_TIMESTAMP(6) WHERE agent_id = ?`,
      [agent],
    );
    await assertRollupExact('after the row completions');
    await admin.query('DELETE FROM session_verdict WHERE agent_id = ? AND first_packet_at < ?', [agent, hour(2)]);
    assert.deepEqual(await assertRollupExact('after a delete'), [
      '02 portscan 1',
      '03 bruteforce 400',
      '04 bruteforce 2',
    ]);
  });

  test("the console's alerts summary reads the rollup: the same counts, per hour and class", async () => {
    const f = parseAlertFilters(
      { from: hour(0).toISOString().slice(0, 16), to: hour(12).toISOString().slice(0, 16) },
      new Date(),
      24,
    );
    const s = await alertSummary(report, f, 3600);
    assert.equal(s.source, 'rollup');
    const mine = s.counts
      .map((c) => `${String((c.bucket * 3600 - day.getTime() / 1000) / 3600).padStart(2, '0')} ${c.label} ${c.n}`)
      .sort();
    assert.deepEqual(mine, ['02 portscan 1', '03 bruteforce 400', '04 bruteforce 2']);
    const byClass = await alertSummary(report, { ...f, label: 'bruteforce' }, 3600);
    assert.equal(byClass.total, 402);
  });

  test("the alerts page's older links walk every alert of the range once, newest first, through ties", async () => {
    // Ties on the time, with classes on both sides of one another, and on time and class (then the id decides).
    const tie = hour(5, 30);
    await insertAs(
      workers[0]!,
      rowsOf(
        ['sqli', 'portscan', 'sqli', 'bruteforce', 'portscan', 'sqli', 'zeta'].map((label) => ({
          at: tie,
          label,
          alert: true,
        })),
      ),
    );
    const f = parseAlertFilters(
      { from: hour(0).toISOString().slice(0, 16), to: hour(12).toISOString().slice(0, 16), agent },
      new Date(),
      24,
    );
    const [expected] = await admin.query(
      `SELECT id FROM session_verdict WHERE agent_id = ? AND alert = 1 AND first_packet_at >= ? AND first_packet_at < ?
       ORDER BY first_packet_at DESC, alert_label DESC, id DESC`,
      [agent, f.from, f.to],
    );
    const walked: number[] = [];
    let page = await alerts(report, f, 7);
    for (;;) {
      walked.push(...page.rows.map((r) => Number(r.id)));
      if (!page.next) break;
      page = await alerts(report, { ...f, before: page.next }, 7);
    }
    const ids = (expected as Array<{ id: number }>).map((r) => Number(r.id));
    assert.ok(ids.length > 400, `${ids.length} alerts`);
    assert.deepEqual(walked, ids);
  });
});
