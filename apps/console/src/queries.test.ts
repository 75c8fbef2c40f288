import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAlertFilters } from './alert-filters.ts';
import { alertIndex, alertLabelsCache } from './queries.ts';

const now = new Date('2026-12-02T06:00:00Z');
const f = (q: Record<string, string>) => parseAlertFilters(q, now, 24);

test("the alerts page names the index of its most selective filter (migration 012's)", () => {
  assert.equal(alertIndex(f({})), 'ix_alert_time_label');
  assert.equal(alertIndex(f({ label: 'sqli' })), 'ix_alert_label_time');
  assert.equal(alertIndex(f({ label: 'sqli', agent: 'h1' })), 'ix_alert_agent_time');
  assert.equal(alertIndex(f({ agent: 'h1', target: '192.0.2.1:80' })), 'ix_alert_server_time');
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
