// The benches run-all runs, in order: how each is invoked (full and short), and how its figures are read from what it
// prints (or writes). A bench is never changed for run-all: when a bench's output changes, its reader here changes.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One row of the table: fleetcap's figure, the peer's from the same run, and their ratio against the goal. */
export interface BenchRow {
  measure: string;
  fleetcap: string;
  peer?: string;
  ratio?: string;
  goal?: string;
  /** undefined: the row has no goal to meet (a figure quoted for context). */
  met?: boolean;
}

export interface BenchContext {
  short: boolean;
  /** A folder of this bench's own for files it writes. */
  outDir: string;
  root: string;
}

export interface BenchSpec {
  name: string;
  /** The row's measure when the bench gave no figures. */
  title: string;
  goal: string;
  command: (c: BenchContext) => string[];
  read: (output: string, outDir: string) => BenchRow[];
  /** The part of the output quoted under the table. */
  summary: (output: string) => string;
  /** Runs only with run-all's --cluster (or --only NAME): it needs the cluster stack up as well. */
  needsCluster?: boolean;
}

/** The shared lock of the stack's servers and of network namespaces (docs/OPERATIONS.md "Shared machine"). */
export const INTEGRATION_LOCK = '/tmp/fleetcap-integration.lock';

const node = (script: string, ...args: string[]) => [
  process.execPath,
  '--import',
  'tsx',
  '--conditions=fleetcap-source',
  script,
  ...args,
];
const underLock = (argv: string[]) => ['flock', '-o', INTEGRATION_LOCK, ...argv];

const num = (text: string, re: RegExp, what: string): number => {
  const m = re.exec(text);
  if (!m) throw new Error(`cannot find ${what} in the output (${re})`);
  return Number(m[1]!.replace(/,/g, ''));
};
const k = (x: number) => (x >= 10_000 ? `${(x / 1000).toFixed(0)} k` : Math.round(x).toLocaleString('en-US'));
const x2 = (r: number) => `${r.toFixed(2)} ×`;
const lastLines = (n: number) => (output: string) => output.trimEnd().split('\n').slice(-n).join('\n');
/** The last line `bench-result: {json}` a bench of this folder prints (the benches written with run-all do). */
export function benchResult<T>(output: string): T {
  const line = output
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('bench-result: '));
  if (!line) throw new Error('the bench printed no bench-result line');
  return JSON.parse(line.slice('bench-result: '.length)) as T;
}
const withoutResultLine = (n: number) => (output: string) =>
  lastLines(n)(
    output
      .split('\n')
      .filter((l) => !l.startsWith('bench-result: '))
      .join('\n'),
  );

export const BENCHES: BenchSpec[] = [
  {
    name: 'splitcap-ingest',
    title: 'splitcap ingest into Redis (`bench/splitcap-ingest`)',
    goal: '≥ 0.5 ×',
    command: ({ short }) =>
      node(
        'bench/splitcap-ingest/run.ts',
        ...(short ? ['--runs', '3', '--seconds', '4', '--batches', '700', '--zadd-requests', '200000'] : []),
      ),
    read: (out) => {
      const zadd = num(out, /\| redis-benchmark -P 64 -t zadd \| (\d+) ops\/s \|/, 'the redis-benchmark median');
      const ingest = num(out, /\| splitcap ingest [^|]*\| (\d+) packets\/s \|/, 'the splitcap median');
      const runs = num(out, /\| measure \| median of (\d+) runs/, 'the number of runs');
      return [
        {
          measure: `splitcap ingest into Redis, 1,000-packet batches (median of ${runs})`,
          fleetcap: `${k(ingest)} packets/s`,
          peer: `\`redis-benchmark -P 64 -t zadd\` ${k(zadd)} ops/s`,
          ratio: x2(ingest / zadd),
          goal: '≥ 0.5 ×',
          met: ingest / zadd >= 0.5,
        },
      ];
    },
    summary: lastLines(12),
  },
  {
    name: 'splitcap-growth',
    title:
      'cost growth: ingest with 10 k, 100 k and 1 M sessions active, Redis bytes per session (`bench/splitcap-ingest --active`)',
    goal: '≤ 1.5 × the packet bytes; rates within 20%',
    command: ({ short }) =>
      node(
        'bench/splitcap-ingest/run.ts',
        '--active',
        '10000,100000,1000000',
        ...(short ? ['--seconds', '3', '--warmup', '30', '--batches', '500'] : ['--seconds', '8', '--warmup', '60']),
      ),
    read: (out) => {
      const r = benchResult<{
        levels: Array<{ active: number; bytesPerSession: number; packetBytes: number; packetsPerSecond: number }>;
        uploaded: { bytesPerSession: number; packetBytes: number };
        spread: number;
      }>(out);
      const bytesRatio = r.uploaded.bytesPerSession / r.uploaded.packetBytes;
      const at = (l: { active: number }) => (l.active >= 1_000_000 ? `${l.active / 1_000_000} M` : k(l.active));
      return [
        {
          measure: 'Redis bytes per active session (20-packet TCP sessions) against the packet bytes it stores',
          fleetcap: `${r.uploaded.bytesPerSession.toLocaleString('en-US')} B`,
          peer: `${r.uploaded.packetBytes.toLocaleString('en-US')} B of packets`,
          ratio: x2(bytesRatio),
          goal: '≤ 1.5 ×',
          met: bytesRatio <= 1.5,
        },
        {
          measure: `ingest with ${r.levels.map(at).join(' / ')} sessions active (2-packet sessions, ${r.levels.map((l) => `${l.bytesPerSession} B`).join(' / ')} each)`,
          fleetcap: r.levels.map((l) => `${k(l.packetsPerSecond)}`).join(' / ') + ' packets/s',
          ratio: `max/min ${x2(1 + r.spread)}`,
          goal: 'within 20%',
          met: r.spread <= 0.2,
        },
      ];
    },
    summary: withoutResultLine(14),
  },
  {
    name: 'sessionize',
    title: 'offline sessionizing (`bench/sessionize`)',
    goal: '≥ 0.7 × ndpiReader (goal 1.0 ×), ≥ 10 × tshark',
    command: ({ short, outDir }) =>
      node('bench/sessionize/run.ts', '--out', outDir, ...(short ? ['--short'] : ['--runs', '5'])),
    read: (_out, outDir) => {
      const file = join(outDir, 'results.json');
      if (!existsSync(file)) throw new Error(`${file} was not written`);
      const json = JSON.parse(readFileSync(file, 'utf8')) as {
        runs: number;
        results: Array<{
          input: string;
          packets: number;
          tools: Record<string, { wall: number; cpu: number }>;
          ratios: Record<string, { wall?: number; cpu?: number }>;
        }>;
      };
      return json.results.slice(0, 1).flatMap((r) => {
        const ours = r.tools.fleetcap!;
        const peer = (name: string) => r.tools[name]!;
        const ndpi = r.ratios.ndpiReader!;
        const tshark = r.ratios.tshark!;
        const when = `${r.input}, median of ${json.runs}`;
        const time = (t: { wall: number; cpu: number }) => `${t.wall.toFixed(2)} s (CPU ${t.cpu.toFixed(2)} s)`;
        return [
          {
            measure: `offline sessionizing, ${when}: compiled \`fleetcap sessions --json\` (cli/dist/main.js) vs \`ndpiReader -i\``,
            fleetcap: time(ours),
            peer: `ndpiReader ${time(peer('ndpiReader'))}`,
            ratio: `${x2(ndpi.wall!)} (CPU ${x2(ndpi.cpu!)})`,
            goal: '≥ 0.7 × (goal 1.0 ×)',
            met: ndpi.wall! >= 0.7,
          },
          {
            measure: `offline sessionizing, ${when}: vs \`tshark -q -z conv,tcp -z conv,udp\``,
            fleetcap: time(ours),
            peer: `tshark ${time(peer('tshark'))}`,
            ratio: `${x2(tshark.wall!)} (CPU ${x2(tshark.cpu!)})`,
            goal: '≥ 10 ×',
            met: tshark.wall! >= 10,
          },
        ];
      });
    },
    summary: (out) => {
      const i = out.lastIndexOf('# Offline sessionizing');
      return i >= 0 ? out.slice(i) : lastLines(15)(out);
    },
  },
  {
    name: 'capture',
    title: 'capture zero-drop ceiling (`bench/capture`)',
    goal: '≥ 0.8 × (goal 1.0 ×)',
    // Network namespaces and a veth pair of its own: under the shared lock, like the lab.
    command: ({ short }) => underLock(node('bench/capture/run.ts', ...(short ? ['--short'] : []))),
    read: (out) => {
      const r = benchResult<{
        sniffer: number;
        tcpdump: number;
        ratio: number;
        runs: number;
        snifferBound?: boolean;
        tcpdumpBound?: boolean;
        resolved?: boolean;
        snifferDroppedAt?: number;
        tcpdumpDroppedAt?: number;
        rssMiB?: number;
        rssSeconds?: number;
        rssGrowth?: number;
      }>(out);
      const rows: BenchRow[] = [
        {
          measure: `capture zero-drop ceiling on a veth pair, same generator (median of ${r.runs})`,
          fleetcap: `sniffer ${r.snifferBound ? '≥ ' : ''}${k(r.sniffer)} packets/s`,
          peer: `\`tcpdump -w /dev/null\` ${r.tcpdumpBound ? '≥ ' : ''}${k(r.tcpdump)} packets/s`,
          ratio: r.tcpdumpBound
            ? `${x2(r.ratio)} (tcpdump never dropped: the generator was the limit, no ceiling ratio)`
            : r.resolved === false
              ? `not resolved: the rated generator stopped below both first drops (sniffer dropped at ${k(r.snifferDroppedAt ?? 0)}, tcpdump at ${k(r.tcpdumpDroppedAt ?? 0)} packets/s)`
              : `${r.snifferBound ? '≥ ' : ''}${x2(r.ratio)}`,
          goal: '≥ 0.8 × (goal 1.0 ×)',
          ...(r.tcpdumpBound || r.resolved === false ? {} : { met: r.ratio >= 0.8 }),
        },
      ];
      if (r.rssMiB !== undefined)
        rows.push({
          measure: `sniffer RSS at the ceiling over ${r.rssSeconds} s`,
          fleetcap: `${r.rssMiB.toFixed(0)} MiB at the end (${((r.rssGrowth ?? 0) * 100).toFixed(0)}% over the first sample)`,
        });
      return rows;
    },
    summary: withoutResultLine(20),
  },
  {
    name: 'agent-footprint',
    title: "the agent's footprint, idle and at 10 k packets/s (`bench/agent-footprint`)",
    goal: '≤ 150 MB RSS in all, ≤ 25% of one core at 10 k packets/s',
    // A veth pair of its own and the stack's ZooKeeper: under the shared lock.
    command: ({ short }) => underLock(node('bench/agent-footprint/run.ts', ...(short ? ['--short'] : []))),
    read: (out) => {
      const r = benchResult<{
        pps: number;
        agentIdleRssMiB: number;
        agentLoadRssMaxMiB: number;
        standbyRssMiB: number;
        leanLoadRssMaxMiB?: number;
        leanLoadCpuPercent?: number;
        agentIdleCpuPercent: number;
        agentLoadCpuPercent: number;
        tcpdumpLoadRssMiB: number;
        tcpdumpLoadCpuPercent: number;
        snifferStartCompiledMs: number;
        snifferStartSourceMs: number;
      }>(out);
      const mib = (x: number) => `${((x * 1048576) / 1e6).toFixed(0)} MB`;
      return [
        {
          measure: `agent RSS (listener, sniffer, its tcpdump, standby sniffer; compiled), idle / at ${k(r.pps)} packets/s (max)`,
          fleetcap: `${mib(r.agentIdleRssMiB)} / ${mib(r.agentLoadRssMaxMiB)} (standby ${mib(r.standbyRssMiB)})`,
          peer: `\`tcpdump -w /dev/null\` ${mib(r.tcpdumpLoadRssMiB)}`,
          goal: '≤ 150 MB',
          met: r.agentLoadRssMaxMiB * 1.048576 <= 150,
        },
        ...(r.leanLoadRssMaxMiB !== undefined
          ? [
              {
                measure: `the same without the standby sniffer (FLEETCAP_SNIFFER_STANDBY=0), at ${k(r.pps)} packets/s (max)`,
                fleetcap: `${mib(r.leanLoadRssMaxMiB)}, ${r.leanLoadCpuPercent?.toFixed(1)}% of one core`,
                goal: '≤ 150 MB',
                met: r.leanLoadRssMaxMiB * 1.048576 <= 150,
              },
            ]
          : []),
        {
          measure: `agent CPU at ${k(r.pps)} packets/s (idle)`,
          fleetcap: `${r.agentLoadCpuPercent.toFixed(1)}% of one core (${r.agentIdleCpuPercent.toFixed(1)}%)`,
          peer: `\`tcpdump -w /dev/null\` ${r.tcpdumpLoadCpuPercent.toFixed(1)}%`,
          goal: '≤ 25%',
          met: r.agentLoadCpuPercent <= 25,
        },
        {
          measure: "sniffer start, fork to 'capturing' (median)",
          fleetcap: `compiled ${r.snifferStartCompiledMs} ms`,
          peer: `tsx from sources ${r.snifferStartSourceMs} ms`,
        },
      ];
    },
    summary: withoutResultLine(20),
  },
  {
    name: 'verdicts',
    title: 'upload → verdict row at 1,000 sessions/s (`bench/verdicts`)',
    goal: 'p99 < 500 ms',
    command: ({ short }) => node('bench/verdicts/run.ts', ...(short ? ['--sessions', '5000', '--seconds', '8'] : [])),
    read: (out) => {
      const p99 = num(out, /latency upload -> committed row, p99 \| (\d+) ms/, 'the p99');
      const p50 = num(out, /latency upload -> committed row, p50 \| (\d+) ms/, 'the p50');
      const rate = num(out, /paced rate achieved \| (\d+) sessions\/s/, 'the paced rate');
      const throughput = num(out, /\(immediate path\) \| (\d+) sessions\/s/, 'the throughput');
      return [
        {
          measure: `upload → committed verdict row at ${rate} sessions/s`,
          fleetcap: `p99 ${p99} ms (p50 ${p50} ms)`,
          goal: 'p99 < 500 ms',
          met: p99 < 500,
        },
        { measure: 'verdict throughput, splitcap → 2 workers → MariaDB', fleetcap: `${k(throughput)} sessions/s` },
      ];
    },
    summary: lastLines(8),
  },
  {
    name: 'capture-to-verdict',
    title: 'capture → verdict row at 1,000 sessions/s, low-latency capture settings (`bench/capture-to-verdict`)',
    goal: 'p99 < 250 ms',
    // A veth pair of its own: under the shared lock.
    command: ({ short }) => underLock(node('bench/capture-to-verdict/run.ts', ...(short ? ['--short'] : []))),
    read: (out) => {
      const r = benchResult<{
        runs: number;
        achievedRate: number;
        p50Ms: number;
        p99Ms: number;
        enqueueToCommitMeanMs: number;
        ingestMeanMs: number;
        immediate: boolean;
        batchMs: number;
      }>(out);
      return [
        {
          measure: `last packet on the wire → committed verdict row at ${Math.round(r.achievedRate)} sessions/s (immediate mode ${r.immediate ? 'on' : 'off'}, batchMs ${r.batchMs}; median of ${r.runs})`,
          fleetcap: `p99 ${Math.round(r.p99Ms)} ms (p50 ${Math.round(r.p50Ms)} ms; workers' enqueue → commit mean ${Math.round(r.enqueueToCommitMeanMs)} ms, splitcap upload → 202 mean ${Math.round(r.ingestMeanMs)} ms)`,
          goal: 'p99 < 250 ms at 1,000 sessions/s',
          met: r.p99Ms < 250 && r.achievedRate >= 950,
        },
      ];
    },
    summary: lastLines(9),
  },
  {
    name: 'config-propagation',
    title: 'config change → sniffer capturing with it (`bench/config-propagation --listener`)',
    goal: 'p99 < 2 s',
    command: ({ short }) =>
      node('bench/config-propagation/run.ts', '--listener', ...(short ? ['--updates', '20'] : [])),
    read: (out) => {
      const p99 = num(out, /-> sniffer capturing with the new filter\s+p50[^\n]*p99\s+([\d.]+) ms/, 'the p99');
      const n = num(out, /config propagation from the UPDATE's commit \((\d+) updates/, 'the number of updates');
      return [
        {
          measure: `SQL config change → sniffer capturing with it (${n} updates)`,
          fleetcap: `p99 ${p99.toFixed(0)} ms`,
          goal: 'p99 < 2 s',
          met: p99 < 2000,
        },
      ];
    },
    summary: lastLines(9),
  },
  {
    name: 'forecast',
    title: 'forecast, HTTP, batch 256 (`bench/forecast`)',
    goal: '≥ 20 k sessions/s',
    command: ({ short }) => node('bench/forecast/run.ts', ...(short ? ['--runs', '3', '--seconds', '1'] : [])),
    read: (out) => {
      const rate = num(out, /HTTP batch 256: ([\d,]+) sessions\/s/, 'the HTTP batch-256 rate');
      const perCpu = num(out, /sessions\/s, ([\d,]+) per CPU-second of forecast/, 'the per-CPU-second rate');
      return [
        {
          measure: 'forecast over HTTP, batch 256',
          fleetcap: `${k(rate)} sessions/s (${k(perCpu)} per CPU-second)`,
          goal: '≥ 20 k sessions/s on one core',
          met: rate >= 20_000 && perCpu >= 20_000,
        },
      ];
    },
    summary: lastLines(10),
  },
  {
    name: 'detectors',
    title: 'detectors, Redis path (`bench/detectors`)',
    goal: '≥ 50 k sessions per CPU-second',
    command: ({ short }) => {
      const argv = node('bench/detectors/run.ts', ...(short ? ['--sessions', '50000', '--sources', '5000'] : []));
      return [argv[0]!, '--expose-gc', ...argv.slice(1)];
    },
    read: (out) => {
      const json = JSON.parse(out.slice(out.lastIndexOf('\n{') + 1)) as Record<string, number>;
      const perCpu = json.redisSessionsPerCoreSecond!;
      const zaddPerCpu = json.redisBenchmarkZaddPerCpuSecond!;
      return [
        {
          measure: 'detectors, Redis path: sessions per CPU-second (detector + redis-server)',
          fleetcap: `${k(perCpu)} sessions per CPU-s (${k(json.redisSessionsPerSecond!)} sessions/s)`,
          peer: `\`redis-benchmark -P 64 -t zadd\` ${k(zaddPerCpu)} ZADD per CPU-s (${k(json.redisBenchmarkZaddPerSecond!)}/s)`,
          ratio: x2(json.sessionsPerCpuSecondToZaddPerCpuSecondRatio!),
          goal: '≥ 50 k sessions per CPU-s',
          met: perCpu >= 50_000,
        },
        {
          measure: 'detectors, pure path (`fleetcap detections`)',
          fleetcap: `${k(json.pureSessionsPerSecondPerCore!)} sessions/s per core`,
        },
      ];
    },
    summary: (out) => out.slice(Math.max(0, out.lastIndexOf('\n{') + 1)),
  },
  {
    name: 'console',
    title: 'console pages with 1 M verdict rows (`bench/console`)',
    goal: 'every page p95 < 300 ms',
    command: ({ short }) => node('bench/console/run.ts', ...(short ? ['--rows', '100000', '--loads', '20'] : [])),
    read: (out) => {
      const rows = num(out, /console pages, ([\d,]+) verdict rows/, 'the row count');
      // console.table, columns found by their header (the bench adds columns): │ (index) │ page │ … │ p95 ms │ … │
      // DB p50 ms (or main SQL p50 ms) │ … │ under 300 ms … │
      const cells = (l: string) => l.split('│').map((c) => c.trim());
      const header = out.split('\n').find((l) => l.startsWith('│') && l.includes('(index)'));
      if (!header) throw new Error('no header row in the console table');
      const names = cells(header);
      const column = (what: RegExp) => {
        const i = names.findIndex((n) => what.test(n));
        if (i < 0) throw new Error(`no column ${what} in the console table (${names.join(' | ')})`);
        return i;
      };
      const [pageAt, p95At, sqlAt, okAt] = [/^page$/, /^p95 ms$/, /^(DB|main SQL) p50 ms$/, /^under 300 ms/].map(
        column,
      );
      const pages = out
        .split('\n')
        .filter((l) => l.startsWith('│') && l.includes("'"))
        .map(cells)
        .map((c) => ({
          page: c[pageAt!]!.replace(/'/g, ''),
          p95: Number(c[p95At!]),
          sql: Number(c[sqlAt!]),
          ok: c[okAt!]!.includes('yes'),
        }));
      if (pages.length === 0) throw new Error('no page rows in the console table');
      const worst = pages.reduce((a, b) => (b.p95 > a.p95 ? b : a));
      const under = pages.filter((p) => p.ok).length;
      return [
        {
          measure: `console pages over ${rows.toLocaleString('en-US')} verdict rows (p95 of each page)`,
          fleetcap: `${under} of ${pages.length} pages under 300 ms; slowest ${worst.page} ${worst.p95} ms`,
          peer: `its main SQL query alone ${worst.sql} ms (p50)`,
          goal: 'every page p95 < 300 ms',
          met: under === pages.length,
        },
      ];
    },
    summary: lastLines(16),
  },
  {
    name: 'verdict-storage',
    title: 'verdict storage partitioned by day (`bench/verdict-storage`)',
    goal: 'inserts ≥ 5,000 rows/s; every view < 1 s over its window',
    command: ({ short }) => node('bench/verdict-storage/run.ts', ...(short ? ['--short'] : [])),
    read: (out) => {
      const r = benchResult<{
        sizes: number[];
        insertRowsPerSecond: number[];
        insertRowsPerServerCpuSecond: number[];
        peerInsertRowsPerSecond: Array<number | null>;
        slowQueries: string[];
      }>(out);
      const last = r.sizes.length - 1;
      const rows = `${(r.sizes[last]! / 1e6).toLocaleString('en-US')} M rows`;
      const peer = r.peerInsertRowsPerSecond[last];
      return [
        {
          measure: `verdict inserts through the worker's write path at ${rows}, partitioned by day`,
          fleetcap: `${k(r.insertRowsPerSecond[last]!)} rows/s (${k(r.insertRowsPerServerCpuSecond[last]!)} per server CPU-second)`,
          ...(peer
            ? { peer: `same tables unpartitioned ${k(peer)} rows/s`, ratio: x2(r.insertRowsPerSecond[last]! / peer) }
            : {}),
          goal: '≥ 5,000 rows/s',
          met: r.insertRowsPerSecond[last]! >= 5000,
        },
        {
          measure: `reporting views and console queries over their windows at ${rows}`,
          fleetcap: r.slowQueries.length === 0 ? 'all under 1 s' : `over 1 s: ${r.slowQueries.join('; ')}`,
          goal: 'every view < 1 s',
          met: r.slowQueries.length === 0,
        },
      ];
    },
    summary: withoutResultLine(30),
  },
  {
    name: 'config-propagation-fleet',
    title: 'one UPDATE of 1,000 agents → each ZooKeeper watcher (`bench/config-propagation --agents 1000`)',
    goal: 'p99 < 2 s',
    command: ({ short }) =>
      node('bench/config-propagation/run.ts', '--agents', short ? '200' : '1000', '--updates', short ? '2' : '5'),
    read: (out) => {
      const p99 = num(out, /-> each watcher reads the new revision\s+p50[^\n]*p99\s+([\d.]+) ms/, 'the p99');
      const agents = num(out, /fleet config propagation: (\d+) agents/, 'the number of agents');
      return [
        {
          measure: `one SQL UPDATE of ${agents} agents' configs → each of ${agents} ZooKeeper watchers`,
          fleetcap: `p99 ${p99.toFixed(0)} ms`,
          goal: 'p99 < 2 s',
          met: p99 < 2000,
        },
      ];
    },
    summary: lastLines(5),
  },
  {
    name: 'cluster',
    title: 'ingest and verdicts on the cluster stack against the single-node stack (`bench/cluster`)',
    goal: 'quoted (no goal)',
    needsCluster: true,
    command: ({ short }) => node('bench/cluster/run.ts', ...(short ? ['--rounds', '1', '--short'] : ['--rounds', '3'])),
    read: (out) => {
      const r = benchResult<{
        rounds: number;
        result: Record<string, { single: number; cluster: number; ratio: number }>;
      }>(out);
      return Object.entries(r.result).map(([measure, f]) => ({
        measure: `cluster stack: ${measure} (median of ${r.rounds})`,
        fleetcap: `${k(f.cluster)}`,
        peer: `single-node stack ${k(f.single)}`,
        ratio: x2(f.ratio),
      }));
    },
    summary: withoutResultLine(8),
  },
];
