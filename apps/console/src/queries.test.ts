import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAlertFilters } from './alert-filters.ts';
import { alertIndex, alertLabelsCache, alertSummary, countsFromRollup, INDEX_COUNT_CAP } from './queries.ts';

const now = new Date('2026-12-02T06:00:00Z');
const f = (q: Record<string, string>) => parseAlertFilters(q, now, 24);

test("the alerts page names the index of its most selective filter (migration 014's)", () => {
  assert.equal(alertIndex(f({})), 'ix_alert_time_class');
  assert.equal(alertIndex(f({ label: 'sqli' })), 'ix_alert_class_time');
  assert.equal(alertIndex(f({ label: 'sqli', agent: 'h1' })), 'ix_alert_agent_time');
  assert.equal(alertIndex(f({ agent: 'h1', target: '192.0.2.1:80' })), 'ix_alert_service_time');
  assert.equal(alertIndex(f({ agent: 'h1', target: '192.0.2.1' })), 'ix_alert_server_time');
  assert.equal(alertIndex(f({ target: '192.0.2.1', source: '10.0.0.1' })), 'ix_alert_client_time');
});

test('the label choices are read once a minute at most, and again after a failed read', async () => {
  let t = 0;
  let reads = 0;
  let fail = false;
  const sql = {
    query: async () => {
      reads++;
      if (fail) throw new Error('gone');
      return [[{ label: 'portscan' }, { label: 'sqli' }]];
    },
  } as unknown as Parameters<ReturnType<typeof alertLabelsCache>>[0];
  const labels = alertLabelsCache(60_000, () => t);
  assert.deepEqual(await labels(sql), ['portscan', 'sqli']);
  t = 59_000;
  await labels(sql);
  assert.equal(reads, 1);
  t = 61_000;
  fail = true;
  await assert.rejects(labels(sql), /gone/);
  fail = false;
  assert.deepEqual(await labels(sql), ['portscan', 'sqli']);
  assert.equal(reads, 3);
});

type Sql = Parameters<typeof alertSummary>[0];
/** A stand-in for the reporting pool that answers each query by its text and records it. */
function answering(answer: (sqlText: string, values: unknown[]) => unknown[]) {
  const asked: Array<{ sql: string; values: unknown[] }> = [];
  const sql = {
    query: async (text: string, values: unknown[]) => {
      asked.push({ sql: text, values });
      return [answer(text, values)];
    },
  } as unknown as Sql;
  return { sql, asked };
}

test('a range of hours without agent, source or target is counted from the rollup; the rest from the index', () => {
  assert.equal(countsFromRollup(f({})), true, 'the last 24 h');
  assert.equal(countsFromRollup(f({ label: 'sqli' })), true);
  assert.equal(countsFromRollup(f({ from: '2026-12-02T01:00' })), false, 'five hours');
  assert.equal(countsFromRollup(f({ agent: 'h1' })), false);
  assert.equal(countsFromRollup(f({ source: '10.0.0.1' })), false);
  assert.equal(countsFromRollup(f({ target: '192.0.2.1' })), false);
});

test('from the rollup, the range is counted over whole hours, one row per hour, class and slot', async () => {
  const { sql, asked } = answering(() => [
    { bucket: 10, label: 'sqli', n: '7' },
    { bucket: 11, label: 'portscan', n: '0' },
  ]);
  const g = f({ from: '2026-12-01T05:30', to: '2026-12-02T05:45', label: 'sqli' });
  const s = await alertSummary(sql, g, 3600);
  assert.deepEqual(
    { ...s, from: s.from.toISOString(), to: s.to.toISOString() },
    {
      counts: [{ bucket: 10, label: 'sqli', n: 7 }],
      total: 7,
      capped: false,
      source: 'rollup',
      from: '2026-12-01T05:00:00.000Z',
      to: '2026-12-02T06:00:00.000Z',
    },
  );
  assert.equal(asked.length, 1, 'no alert row is read');
  assert.match(asked[0]!.sql, /FROM alert_count_hour WHERE hour_start >= \? AND hour_start < \? AND alert_label = \?/);
  assert.deepEqual(
    asked[0]!.values.map((v) => (v instanceof Date ? v.toISOString() : v)),
    [3600, '2026-12-01T05:00:00.000Z', '2026-12-02T06:00:00.000Z', 'sqli'],
  );
  const byDefault = f({});
  assert.deepEqual(
    [byDefault.from.toISOString(), byDefault.to.toISOString()],
    ['2026-12-01T06:00:00.000Z', '2026-12-02T06:00:00.000Z'],
    'the default range is whole hours already',
  );
});

test('from the index, at most INDEX_COUNT_CAP alerts are counted, and more is said', async () => {
  const over = answering(() => [
    { bucket: 1, label: 'sqli', n: 1 },
    { bucket: 2, label: 'sqli', n: INDEX_COUNT_CAP },
  ]);
  const g = f({ agent: 'h1' });
  const s = await alertSummary(over.sql, g, 1800);
  assert.deepEqual(s, {
    counts: [{ bucket: 2, label: 'sqli', n: INDEX_COUNT_CAP }],
    total: INDEX_COUNT_CAP,
    capped: true,
    source: 'index',
    from: g.from,
    to: g.to,
  });
  assert.match(over.asked[0]!.sql, /ORDER BY first_packet_at DESC, alert_label DESC, id DESC LIMIT \?/);
  assert.equal(over.asked[0]!.values.at(-1), INDEX_COUNT_CAP + 1);
  const under = answering(() => [{ bucket: 2, label: 'sqli', n: 5 }]);
  assert.deepEqual(await alertSummary(under.sql, g, 1800), {
    counts: [{ bucket: 2, label: 'sqli', n: 5 }],
    total: 5,
    capped: false,
    source: 'index',
    from: g.from,
    to: g.to,
  });
});
