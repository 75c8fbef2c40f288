// The readers of bench/run-all/benches.ts: each bench's figures are read from what it prints, and a bench whose output
// changed is an error that names what is missing, not a wrong row.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BENCHES } from '../bench/run-all/benches.ts';

const bench = (name: string) => {
  const b = BENCHES.find((x) => x.name === name);
  assert.ok(b, `no bench ${name}`);
  return b;
};

test('the splitcap-ingest row is its median over the peer median, against the 0.5 goal', () => {
  const out = [
    'run 1: ...',
    '| measure | median of 3 runs |',
    '|---|---|',
    '| redis-benchmark -P 64 -t zadd | 400000 ops/s |',
    '| splitcap ingest (1 replica(s), 4 concurrent uploads, 1,000-packet batches) | 120000 packets/s |',
    '| ratio | 30.0% (bar: 50%) |',
  ].join('\n');
  const [row] = bench('splitcap-ingest').read(out, '/nonexistent');
  assert.equal(row?.ratio, '0.30 ×');
  assert.equal(row?.met, false);
  assert.match(row?.fleetcap ?? '', /120 k packets\/s/);
  assert.match(row?.measure ?? '', /median of 3/);
});

test('a capture ramp the generator limited gives no ceiling ratio and no verdict', () => {
  const out = `ramp 1\nbench-result: ${JSON.stringify({ sniffer: 45000, tcpdump: 68000, ratio: 0.66, runs: 1, tcpdumpBound: true })}\n`;
  const [row] = bench('capture').read(out, '/nonexistent');
  assert.equal(row?.met, undefined);
  assert.match(row?.ratio ?? '', /generator was the limit/);
  const dropped = `bench-result: ${JSON.stringify({ sniffer: 90000, tcpdump: 100000, ratio: 0.9, runs: 3 })}\n`;
  assert.equal(bench('capture').read(dropped, '/nonexistent')[0]?.met, true);
});

test('a bench whose output lacks its figures is an error naming what is missing', () => {
  assert.throws(() => bench('verdicts').read('nothing here', '/nonexistent'), /cannot find the p99/);
  assert.throws(() => bench('capture').read('no result', '/nonexistent'), /no bench-result line/);
});

test('the console row names the slowest page and how many pages met 300 ms', () => {
  const out = [
    'console pages, 100,000 verdict rows (10,000 alerts), 20 loads each after one warm-up, one client, HTTPS keep-alive',
    '┌─────────┬──────────┬────────┐',
    '│ (index) │ page     │ p50 ms │ p95 ms │ max ms │ DB p50 ms │ DB p95 ms │ page/DB (p50) │ under 300 ms (p95) │',
    '├─────────┼──────────┼────────┤',
    "│ 0       │ 'fleet'  │ 10.1   │ 20.5   │ 30     │ 2.1       │ 3.0       │ 4.8           │ 'yes'              │",
    "│ 1       │ 'alerts' │ 200.2  │ 334.5  │ 400    │ 90.3      │ 95.1      │ 2.2           │ 'NO'               │",
  ].join('\n');
  const [row] = bench('console').read(out, '/nonexistent');
  assert.equal(row?.met, false);
  assert.match(row?.fleetcap ?? '', /1 of 2 pages under 300 ms; slowest alerts 334.5 ms/);
});

test('the cluster rows are the cluster stack against the single-node stack of the same run, with no goal', () => {
  const result = {
    rounds: 3,
    result: { 'splitcap ingest, packets/s': { single: 20000, cluster: 15000, ratio: 0.75 } },
  };
  const rows = bench('cluster').read(`round 1: ...\nbench-result: ${JSON.stringify(result)}\n`, '/nonexistent');
  assert.equal(rows.length, 1);
  assert.equal(rows[0]?.ratio, '0.75 ×');
  assert.equal(rows[0]?.met, undefined);
  assert.match(rows[0]?.peer ?? '', /single-node stack 20 k/);
  assert.ok(bench('cluster').needsCluster, 'run only with --cluster: it needs the cluster stack up');
});
