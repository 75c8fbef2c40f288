// Benchmark: the sniffer's zero-drop capture ceiling against `tcpdump -w /dev/null` (issue 20, part 2). Both capture
// on one end of a veth pair in a network namespace the bench makes; the same generator, from the other namespace,
// steps the rate up until the first packet the kernel drops, then sends at its full speed as a last step. At each
// rate both tools are measured, one after the other; the ceiling of a tool is the highest rate it took with no
// kernel drop and no packet missing. The ratio is the sniffer's ceiling over tcpdump's, median over --runs ramps.
// Then the sniffer's RSS at its ceiling over --rss-seconds (issue: 5 minutes).
//   flock -o /tmp/fleetcap-integration.lock node --import tsx --conditions=fleetcap-source bench/capture/run.ts \
//     [--runs 3] [--step-seconds 10] [--start-pps 20000] [--factor 1.25] [--rss-seconds 300] [--short]
//     [--generator trafgen|tcpreplay] [--generators 2] [--batch-packets 10000] [--spool-write on-failure|always]
//     [--baseline <an earlier checkout, node_modules installed: its sniffer is ramped too, same run>]
// Needs root (namespaces, tcpdump), tcpdump, and the generator: trafgen (Debian: apt-get install netsniff-ng), or
// tcpreplay (apt-get install tcpreplay). Traffic flows only between the two ends of the pair (test/helpers/netns.ts
// makes them, fca-<hex>-a/-b); they are removed at the end, also after a failure.
// The generator (see docs/ARCHITECTURE.md, Benchmarks, Capture ceiling): trafgen by default, because tcpreplay was
// the limit (it never made tcpdump drop). Rated steps run --generators trafgen processes (-P 1, -b rate/N pps
// each: trafgen's rated path is one sendto per packet, one process per core); the last step is trafgen unrated on
// every core (-P N, its PACKET_MMAP TX_RING path, the fastest this host sends). On a veth pair the receive path, with
// the copy into each capture's ring, runs in the sender's context: the generator pays for it, so a capture that
// does not drop at full speed has a ceiling of at least the generator's (printed as a lower bound).
// Both tools capture alike: snaplen 262144, the sniffer's kernel buffer (-B, FLEETCAP_CAPTURE_BUFFER_KIB default), -U.
// The sniffer uploads to a sink in its namespace that answers 202 to every batch (splitcap's cost is not part of a
// capture ceiling; bench/splitcap-ingest measures it).
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type AgentProcess, createVethPair, destroy, startAgentApp, type VethPair } from '../../test/helpers/netns.ts';
import { syntheticCapture } from '../../test/helpers/synthetic-sessions.ts';
import {
  collect,
  cpuSeconds,
  processTree,
  rssKiB,
  socketMemoryKeeper,
  spawnIn as spawnInPair,
  startSink,
  trafgen,
  trafgenConfig,
  waitFor,
} from './traffic.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { values } = parseArgs({
  options: {
    runs: { type: 'string' },
    'step-seconds': { type: 'string' },
    'start-pps': { type: 'string', default: '20000' },
    factor: { type: 'string', default: '1.25' },
    'max-pps': { type: 'string', default: '2000000' },
    'rss-seconds': { type: 'string' },
    'buffer-kib': { type: 'string', default: '16384' },
    short: { type: 'boolean', default: false },
    generator: { type: 'string', default: 'trafgen' },
    generators: { type: 'string', default: '2' },
    /** The sniffer's batchPackets (a high-rate deployment's setting: a batch closes at this count or batchMs). */
    'batch-packets': { type: 'string', default: '10000' },
    'spool-write': { type: 'string', default: 'on-failure' },
    /** A checkout of an earlier fleetcap (node_modules installed): its sniffer is ramped too, in the same run. */
    baseline: { type: 'string' },
  },
});
const baseline = values.baseline ? resolve(values.baseline) : undefined;
if (baseline && !existsSync(join(baseline, 'apps/sniffer/src/main.ts'))) {
  console.error(`bench/capture: --baseline ${baseline} holds no apps/sniffer/src/main.ts (a fleetcap checkout)`);
  process.exit(2);
}
const short = values.short === true;
const runs = Number(values.runs ?? (short ? 1 : 3));
// Long enough that the kernel buffer (16 MiB: some 80,000 of these packets) cannot hide a consumer that falls behind.
const stepSeconds = Number(values['step-seconds'] ?? (short ? 5 : 10));
const startPps = Number(values['start-pps']);
const factor = Number(values.factor);
const maxPps = Number(values['max-pps']);
const rssSeconds = Number(values['rss-seconds'] ?? (short ? 30 : 300));
const bufferKiB = Number(values['buffer-kib']);
const generator = values.generator;
if (generator !== 'trafgen' && generator !== 'tcpreplay') {
  console.error(`bench/capture: --generator ${generator}: trafgen or tcpreplay`);
  process.exit(2);
}
const generators = Math.max(1, Number(values.generators));
const batchPackets = Number(values['batch-packets']);
const spoolWrite = values['spool-write']!;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function need(cmd: string, hint: string): void {
  try {
    execFileSync('which', [cmd], { stdio: 'pipe' });
  } catch {
    console.error(`bench/capture: ${cmd} is not installed (${hint})`);
    process.exit(2);
  }
}
if (process.getuid?.() !== 0) {
  console.error('bench/capture: needs root (network namespaces and packet capture)');
  process.exit(2);
}
if (generator === 'tcpreplay') need('tcpreplay', 'apt-get install tcpreplay');
else need('trafgen', 'apt-get install netsniff-ng');
need('tcpdump', 'apt-get install tcpdump');

const pair: VethPair = createVethPair();
const teardown = () => {
  destroy(pair);
  restoreSocketMemory();
};
process.once('SIGINT', () => {
  teardown();
  process.exit(130);
});

interface Replay {
  sent: number;
  pps: number;
}

let trafgenCfg = '';

/**
 * The generator at `pps` (Infinity: as fast as it goes) for about `seconds`; returns what it sent and its rate.
 * trafgen: `generators` rated processes at pps/N each, or one unrated process on `generators` cores.
 */
async function generate(pcap: string, pps: number, seconds: number): Promise<Replay> {
  if (generator === 'tcpreplay') return replay(pcap, Number.isFinite(pps) ? pps : 10_000_000, seconds);
  const runs = Number.isFinite(pps)
    ? await Promise.all(
        Array.from({ length: generators }, () => trafgen(pair, trafgenCfg, pps / generators, 1, seconds)),
      )
    : [await trafgen(pair, trafgenCfg, undefined, generators, seconds)];
  restoreSocketMemory();
  const sent = runs.reduce((a, r) => a + r.sent, 0);
  return { sent, pps: sent / Math.max(...runs.map((r) => r.seconds)) };
}

/** The generator: tcpreplay at `pps` for `seconds`, looping the capture; returns what it says it sent. */
async function replay(pcap: string, pps: number, seconds: number): Promise<Replay> {
  const child = spawnIn(pair.nsA, 'tcpreplay', [
    '-q',
    '-i',
    pair.devA,
    `--pps=${Math.round(pps)}`,
    // Ten packets per timing slot: tcpreplay's own timing costs less, the rate is the same.
    '--pps-multi=10',
    '--loop=0',
    `--duration=${seconds}`,
    '--preload-pcap',
    pcap,
  ]);
  const out = collect(child);
  const code = await out.exited;
  const text = out.text();
  const sent = /Actual: (\d+) packets/.exec(text);
  const rated = /Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps/.exec(text);
  if (code !== 0 || !sent || !rated) throw new Error(`tcpreplay exited with ${code}: ${text.slice(-1500)}`);
  return { sent: Number(sent[1]), pps: Number(rated[1]) };
}

interface StepResult {
  tool: string;
  target: number;
  pps: number;
  sent: number;
  seen: number;
  kernelDrops: number;
  /** CPU time of the capturing processes (the sniffer and its tcpdump, or tcpdump) per packet seen, µs. */
  cpuUsPerPacket: number;
}

const captureArgs = ['-i', pair.devB, '-s', '262144', '-B', String(bufferKiB), '-U'];

async function tcpdumpStep(pcap: string, target: number): Promise<StepResult> {
  const child = spawnIn(pair.nsB, 'tcpdump', [...captureArgs, '-w', '/dev/null']);
  const out = collect(child);
  await waitFor('tcpdump', () => /listening on/.test(out.text()), 10_000, out.text);
  const cpuBefore = treeCpuSeconds(child.pid!);
  const r = await generate(pcap, target, stepSeconds);
  await new Promise((res) => setTimeout(res, 1500)); // libpcap's last block (1 s timeout)
  const cpu = treeCpuSeconds(child.pid!) - cpuBefore;
  child.kill('SIGINT');
  await out.exited;
  const text = out.text();
  const captured = /(\d+) packets? captured/.exec(text);
  const drops = /(\d+) packets? dropped by kernel/.exec(text);
  if (!captured || !drops) throw new Error(`tcpdump printed no statistics: ${text.slice(-1000)}`);
  return {
    tool: 'tcpdump',
    target,
    pps: r.pps,
    sent: r.sent,
    seen: Number(captured[1]),
    kernelDrops: Number(drops[1]),
    cpuUsPerPacket: (cpu * 1e6) / Math.max(1, Number(captured[1])),
  };
}

const spawnIn = (ns: string, cmd: string, args: string[]) => spawnInPair(pair, ns, cmd, args);
const socketMemory = socketMemoryKeeper();
const restoreSocketMemory = () => socketMemory.restore();

/** CPU seconds of a process and of its descendants that are still running (the sniffer and its tcpdump). */
const treeCpuSeconds = (pid: number) => processTree(pid).reduce((a, p) => a + cpuSeconds(p), 0);

function startSniffer(sinkPort: number, run: string, checkout = root): AgentProcess {
  const config = {
    agentId: `bench-capture-${run}`,
    device: pair.devB,
    bpfFilter: '',
    splitcapUrl: `http://127.0.0.1:${sinkPort}`,
    batchPackets,
    revision: 1,
  };
  const sniffer = startAgentApp(pair, pair.nsB, 'sniffer', checkout, {
    FLEETCAP_AGENT_CONFIG: JSON.stringify(config),
    FLEETCAP_AGENT_TOKEN: 'bench-capture-token',
    FLEETCAP_UPLOAD_PLAINTEXT: 'loopback',
    FLEETCAP_SPOOL_DIR: join(pair.dir, `spool-${run}`),
    FLEETCAP_CAPTURE_BUFFER_KIB: String(bufferKiB),
    FLEETCAP_SPOOL_WRITE: spoolWrite,
    FLEETCAP_LOG_LEVEL: 'warn',
  });
  return sniffer;
}

/**
 * Waits until the sniffer has read what the kernel holds for it: its captured count (sent each second) stops growing
 * (at most 30 s). A sniffer that lags behind the generator catches up here if the kernel buffer held the difference;
 * stopping it at once would cut off packets the kernel never counted as dropped.
 */
async function drained(sniffer: AgentProcess): Promise<void> {
  const captured = () => {
    const last = [...sniffer.messages].reverse().find((m) => m.type === 'counters');
    return (last?.counters as { captured?: number } | undefined)?.captured ?? -1;
  };
  const end = Date.now() + 30_000;
  let previous = -2;
  await new Promise((res) => setTimeout(res, 1500)); // libpcap's last block (1 s timeout)
  while (Date.now() < end) {
    const now = captured();
    if (now === previous) return;
    previous = now;
    await new Promise((res) => setTimeout(res, 2100)); // two counter messages apart
  }
}

async function snifferStep(
  tool: Tool,
  pcap: string,
  target: number,
  sinkPort: number,
  run: string,
): Promise<StepResult> {
  const sniffer = startSniffer(sinkPort, run, tool === 'sniffer' ? root : baseline);
  await sniffer.waitFor('capturing', 120_000);
  const cpuBefore = treeCpuSeconds(sniffer.child.pid!);
  const r = await generate(pcap, target, stepSeconds);
  await drained(sniffer);
  const cpu = treeCpuSeconds(sniffer.child.pid!) - cpuBefore;
  const stoppedAt = sniffer.messages.length;
  await sniffer.stop(30_000);
  const stopped = [...sniffer.messages.slice(stoppedAt)]
    .reverse()
    .find((m) => m.type === 'capture-stopped' || m.type === 'stopped');
  if (!stopped) throw new Error(`the sniffer sent no counters at its stop: ${sniffer.output().slice(-2000)}`);
  const c = stopped.counters as { captured: number; kernelDrops: number };
  return {
    tool,
    target,
    pps: r.pps,
    sent: r.sent,
    seen: c.captured,
    kernelDrops: c.kernelDrops,
    cpuUsPerPacket: (cpu * 1e6) / Math.max(1, c.captured),
  };
}

const clean = (s: StepResult) => s.kernelDrops === 0 && s.seen >= s.sent;
const show = (s: StepResult) =>
  `  ${s.tool.padEnd(8)} target ${(Number.isFinite(s.target) ? String(Math.round(s.target)) : 'full').padStart(8)} pps, sent ${s.sent} at ${Math.round(s.pps)} pps; seen ${s.seen}, kernel drops ${s.kernelDrops}; CPU ${s.cpuUsPerPacket.toFixed(2)} µs/packet${clean(s) ? '' : '  <- drop'}`;

/** The tools of a ramp: tcpdump, the sniffer of this checkout and, with --baseline, the earlier one's. */
type Tool = 'tcpdump' | 'sniffer' | 'sniffer-before';
const tools: Tool[] = ['tcpdump', 'sniffer', ...(baseline ? (['sniffer-before'] as const) : [])];

/** One ramp's ceilings; bound: the tool never dropped, so the generator set its figure (a lower bound). */
/**
 * firstDrop: the step at which a tool first dropped (the rate the generator reached, and the share of packets lost);
 * the tool's ceiling lies between its figure and this rate.
 */
type Ceilings = Record<Tool, number> & {
  bound: Tool[];
  firstDrop: Partial<Record<Tool, { pps: number; lost: number }>>;
};

/**
 * One ramp: every tool at each rate, up until all have dropped or the generator falls short of the rate; then, with
 * trafgen, one step at the generator's full speed for the tools still clean. A tool's ceiling is its highest clean
 * rate; one that is still clean at the end is bound by the generator (its figure is a lower bound).
 */
async function ramp(pcap: string, sinkPort: number, run: number): Promise<Ceilings> {
  const ceiling: Record<Tool, number> = { tcpdump: 0, sniffer: 0, 'sniffer-before': 0 };
  const done = new Set<Tool>();
  const firstDrop: Ceilings['firstDrop'] = {};
  const step = async (tool: Tool, target: number) => {
    const s =
      tool === 'tcpdump'
        ? await tcpdumpStep(pcap, target)
        : await snifferStep(tool, pcap, target, sinkPort, `${run}-${tool}-${Math.round(Math.min(target, 1e9))}`);
    console.log(show(s));
    if (clean(s)) ceiling[tool] = Math.max(ceiling[tool], s.pps);
    else {
      done.add(tool);
      firstDrop[tool] = { pps: Math.round(s.pps), lost: Number((1 - Math.min(s.seen, s.sent) / s.sent).toFixed(4)) };
    }
    return s;
  };
  for (let target = startPps; target <= maxPps && done.size < tools.length; target *= factor) {
    let short = false;
    for (const tool of tools) {
      if (done.has(tool)) continue;
      const s = await step(tool, target);
      // The generator's own ceiling: a rate it does not reach is not a step up.
      if (s.pps < target * 0.8) {
        console.log(`  (the generator reached ${Math.round(s.pps)} of ${Math.round(target)} pps)`);
        short = true;
      }
    }
    if (short) break;
  }
  if (generator === 'trafgen' && done.size < tools.length) {
    console.log(`  full speed (trafgen unrated, PACKET_MMAP, ${generators} cores):`);
    for (const tool of tools) if (!done.has(tool)) await step(tool, Number.POSITIVE_INFINITY);
  }
  return { ...ceiling, bound: tools.filter((t) => !done.has(t)), firstDrop };
}

/** VmRSS of a process and its descendants (the sniffer and its tcpdump), MiB. */
const rssMiB = (pid: number) => processTree(pid).reduce((a, p) => a + rssKiB(p), 0) / 1024;

async function rssAt(pcap: string, pps: number, sinkPort: number) {
  const sniffer = startSniffer(sinkPort, 'rss');
  await sniffer.waitFor('capturing', 120_000);
  const pid = sniffer.child.pid!;
  const samples: number[] = [];
  const replaying = generate(pcap, pps, rssSeconds);
  const timer = setInterval(() => samples.push(rssMiB(pid)), Math.max(1000, (rssSeconds * 1000) / 60));
  const r = await replaying;
  clearInterval(timer);
  await drained(sniffer);
  const at = sniffer.messages.length;
  await sniffer.stop(30_000);
  const stopped = sniffer.messages.slice(at).find((m) => m.type === 'capture-stopped');
  const c = (stopped?.counters ?? { captured: 0, kernelDrops: -1 }) as { captured: number; kernelDrops: number };
  return { samples, sent: r.sent, pps: r.pps, seen: c.captured, kernelDrops: c.kernelDrops };
}

const loadStart = loadavg()[0]!;
try {
  // 4,000 sessions (TCP and UDP) of 10 packets: 40,000 packets of 54-264 bytes, replayed in a loop.
  const specs = Array.from({ length: 4000 }, (_, i) => ({
    proto: i % 4 === 0 ? ('udp' as const) : ('tcp' as const),
    packets: 10,
  }));
  const pcap = join(pair.dir, 'replay.pcap');
  const capture = syntheticCapture(specs, 4242).pcap;
  writeFileSync(pcap, capture);
  // trafgen parses its configuration at each start (some 1 s for 4,000 packets): the first 400 sessions' packets.
  trafgenCfg = join(pair.dir, 'replay.trafgen');
  writeFileSync(trafgenCfg, trafgenConfig(capture, 4000));
  const sinkPort = await startSink(pair, pair.nsB);
  const ceilings: Ceilings[] = [];
  for (let run = 0; run < runs; run++) {
    console.log(`ramp ${run + 1} of ${runs}: from ${startPps} pps, x${factor} per step, ${stepSeconds} s per step`);
    const c = await ramp(pcap, sinkPort, run);
    const bound = (t: Tool) => (c.bound.includes(t) ? " (no drop: the generator's limit, a lower bound)" : '');
    const upTo = (t: Tool) => {
      const d = c.firstDrop[t];
      return d ? ` (dropped ${(d.lost * 100).toFixed(1)}% at ${d.pps})` : '';
    };
    console.log(`  ceilings: ${tools.map((t) => `${t} ${Math.round(c[t])} pps${bound(t)}${upTo(t)}`).join(', ')}`);
    ceilings.push(c);
  }
  const sniffer = median(ceilings.map((c) => c.sniffer));
  const tcpdump = median(ceilings.map((c) => c.tcpdump));
  const before = baseline ? median(ceilings.map((c) => c['sniffer-before'])) : undefined;
  let rss: Awaited<ReturnType<typeof rssAt>> | undefined;
  if (rssSeconds > 0 && sniffer > 0) {
    console.log(`sniffer RSS at ${Math.round(sniffer)} pps for ${rssSeconds} s:`);
    rss = await rssAt(pcap, sniffer, sinkPort);
    console.log(
      `  RSS (sniffer + its tcpdump) first ${rss.samples[0]?.toFixed(0)} MiB, max ${Math.max(...rss.samples).toFixed(0)} MiB, last ${rss.samples.at(-1)?.toFixed(0)} MiB; sent ${rss.sent} at ${Math.round(rss.pps)} pps, seen ${rss.seen}, kernel drops ${rss.kernelDrops}`,
    );
  }
  const loadEnd = loadavg()[0]!;
  console.log('\n| measure | median of', runs, 'ramps |');
  console.log('|---|---|');
  console.log(`| tcpdump -w /dev/null, zero-drop ceiling | ${Math.round(tcpdump)} packets/s |`);
  console.log(`| sniffer, zero-drop ceiling | ${Math.round(sniffer)} packets/s |`);
  console.log(`| ratio | ${(sniffer / tcpdump).toFixed(2)} × (bar 0.8 ×, goal 1.0 ×) |`);
  for (const t of ['sniffer', 'tcpdump'] as const)
    console.log(
      `| ${t}, first drop (median) | ${Math.round(median(ceilings.map((c) => c.firstDrop[t]?.pps ?? 0)))} packets/s |`,
    );
  if (before !== undefined) {
    console.log(`| sniffer of ${baseline}, zero-drop ceiling | ${Math.round(before)} packets/s |`);
    console.log(`| its ratio | ${(before / tcpdump).toFixed(2)} × |`);
  }
  console.log(`| load average | ${loadStart.toFixed(1)} at the start, ${loadEnd.toFixed(1)} at the end |`);
  const rssFirst = rss?.samples[0];
  console.log(
    `bench-result: ${JSON.stringify({
      sniffer: Math.round(sniffer),
      tcpdump: Math.round(tcpdump),
      ratio: Number((sniffer / tcpdump).toFixed(3)),
      // Each tool's ceiling pinned down to one step (its first drop at most a step above its figure) in every ramp:
      // otherwise the figures are the generator's last rated rate, and the ratio says nothing.
      resolved: ceilings.every((c) =>
        (['sniffer', 'tcpdump'] as const).every((t) => {
          const d = c.firstDrop[t];
          return d !== undefined && c[t] > 0 && d.pps <= c[t] * factor * 1.2;
        }),
      ),
      snifferDroppedAt: median(ceilings.map((c) => c.firstDrop.sniffer?.pps ?? 0)),
      tcpdumpDroppedAt: median(ceilings.map((c) => c.firstDrop.tcpdump?.pps ?? 0)),
      runs,
      snifferBound: ceilings.some((c) => c.bound.includes('sniffer')),
      tcpdumpBound: ceilings.some((c) => c.bound.includes('tcpdump')),
      ...(before !== undefined
        ? { snifferBefore: Math.round(before), ratioBefore: Number((before / tcpdump).toFixed(3)) }
        : {}),
      ceilings,
      ...(rss && rssFirst
        ? {
            rssMiB: rss.samples.at(-1),
            rssMaxMiB: Math.max(...rss.samples),
            rssSeconds,
            rssGrowth: (rss.samples.at(-1)! - rssFirst) / rssFirst,
            rssKernelDrops: rss.kernelDrops,
          }
        : {}),
      loadStart,
      loadEnd,
    })}`,
  );
} finally {
  teardown();
}
