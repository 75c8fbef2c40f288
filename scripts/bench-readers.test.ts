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
  const unresolved = { sniffer: 13323, tcpdump: 14893, ratio: 0.89, runs: 1, resolved: false, snifferDroppedAt: 33493 };
  const [row2] = bench('capture').read(
    `bench-result: ${JSON.stringify({ ...unresolved, tcpdumpDroppedAt: 41307 })}`,
    '/n',
  );
  assert.equal(row2?.met, undefined, 'both ceilings only bracketed: no verdict');
  assert.match(row2?.ratio ?? '', /not resolved.*33 k.*41 k/);
});

test('the agent-footprint rows hold RSS in MB and CPU against their goals', () => {
  const result = {
    pps: 10000,
    agentIdleRssMiB: 200,
    agentLoadRssMaxMiB: 210,
    standbyRssMiB: 60,
    agentIdleCpuPercent: 1.2,
    agentLoadCpuPercent: 12.5,
    tcpdumpLoadRssMiB: 8,
    tcpdumpLoadCpuPercent: 0.5,
    snifferStartCompiledMs: 180,
    snifferStartSourceMs: 700,
  };
  const [rss, cpu, start] = bench('agent-footprint').read(`bench-result: ${JSON.stringify(result)}\n`, '/none');
  assert.match(rss?.fleetcap ?? '', /^210 MB \/ 220 MB \(standby 63 MB\)$/);
  assert.equal(rss?.met, false, '220 MB is over 150 MB');
  assert.equal(cpu?.met, true);
  assert.match(cpu?.fleetcap ?? '', /12\.5% of one core/);
  assert.match(start?.peer ?? '', /700 ms/);
});

test('the capture-to-verdict row holds p99 against 250 ms, and a rate short of 1,000 sessions/s is not met', () => {
  const result = {
    runs: 3,
    achievedRate: 990,
    p50Ms: 80,
    p99Ms: 200,
    enqueueToCommitMeanMs: 40,
    ingestMeanMs: 12,
    immediate: true,
    batchMs: 50,
  };
  const [row] = bench('capture-to-verdict').read(`bench-result: ${JSON.stringify(result)}\n`, '/none');
  assert.equal(row?.met, true);
  assert.match(row?.fleetcap ?? '', /p99 200 ms \(p50 80 ms/);
  const [slow] = bench('capture-to-verdict').read(
    `bench-result: ${JSON.stringify({ ...result, achievedRate: 224 })}\n`,
    '/none',
  );
  assert.equal(slow?.met, false, 'a p99 at 224 sessions/s says nothing of 1,000');
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

test('the verdict-storage rows are the largest size: inserts against the unpartitioned peer, and the slow queries', () => {
  const result = {
    sizes: [1_000_000, 10_000_000],
    insertRowsPerSecond: [6000, 5500],
    insertRowsPerServerCpuSecond: [9000, 8000],
    peerInsertRowsPerSecond: [6100, 5000],
    slowQueries: ['view report_top_talkers at 10 M'],
  };
  const [inserts, views] = bench('verdict-storage').read(`| table |\nbench-result: ${JSON.stringify(result)}\n`, '/x');
  assert.equal(inserts?.ratio, '1.10 ×');
  assert.equal(inserts?.met, true);
  assert.match(inserts?.measure ?? '', /10 M rows/);
  assert.equal(views?.met, false);
  assert.match(views?.fleetcap ?? '', /report_top_talkers at 10 M/);
});

test('the fleet config-propagation row is the p99 per watcher', () => {
  const out = [
    "fleet config propagation: 1000 agents' rows changed by one UPDATE (5 UPDATEs, 100 ms apart), 1000 ZooKeeper watchers over 40 sessions of one process:",
    '  -> each watcher reads the new revision       p50   720.9 ms  p90  1454.6 ms  p99  2613.9 ms  max  2700.0 ms  (n=5000)',
  ].join('\n');
  const [row] = bench('config-propagation-fleet').read(out, '/x');
  assert.equal(row?.fleetcap, 'p99 2614 ms');
  assert.equal(row?.met, false);
  assert.match(row?.measure ?? '', /1000 agents/);
});

test('the cost-growth rows: bytes per session against the packet bytes, and the rates’ spread over the levels', () => {
  const result = {
    levels: [
      { active: 10000, bytesPerSession: 1200, packetBytes: 108, packetsPerSecond: 50000, perCpuSecond: 30000 },
      { active: 100000, bytesPerSession: 1150, packetBytes: 108, packetsPerSecond: 45000, perCpuSecond: 29000 },
      { active: 1000000, bytesPerSession: 1100, packetBytes: 108, packetsPerSecond: 40000, perCpuSecond: 28000 },
    ],
    uploaded: { bytesPerSession: 4500, packetBytes: 3053 },
    spread: 0.25,
    perCpuSpread: 0.07,
  };
  const [bytes, rates] = bench('splitcap-growth').read(
    `level 1\nbench-result: ${JSON.stringify(result)}\n`,
    '/nonexistent',
  );
  assert.equal(bytes?.ratio, '1.47 ×');
  assert.equal(bytes?.met, true);
  assert.match(rates?.measure ?? '', /10 k \/ 100 k \/ 1 M sessions active/);
  assert.equal(rates?.fleetcap, '50 k / 45 k / 40 k packets/s');
  assert.equal(rates?.met, false);
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
