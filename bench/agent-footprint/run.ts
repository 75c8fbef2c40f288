// Benchmark: the agent's footprint on a host (issue 20, part 7): RSS and CPU of the whole agent (the listener, its
// running sniffer with its tcpdump, and its standby sniffer), idle and at --pps packets/s, on the compiled build
// (`npm run build`: node apps/listener/dist/main.js, which forks the sniffer's bundle apps/sniffer/dist/main.bundle.mjs; what the image runs). The peer, same run, same traffic:
// `tcpdump -w /dev/null` (Packetbeat and wakizashi's probe are not packaged for this host). Then the start time of a
// compiled sniffer against one started from sources with tsx (the reason the listener keeps a standby): from the
// fork to its 'capturing' message, median of --starts.
//   flock -o /tmp/fleetcap-integration.lock node --import tsx --conditions=fleetcap-source bench/agent-footprint/run.ts \
//     [--short] [--idle-seconds 60] [--load-seconds 120] [--pps 10000] [--starts 5] [--no-build]
// Needs root (namespaces, tcpdump), trafgen (Debian: netsniff-ng) and the local stack's ZooKeeper (the listener
// reads its config there, through a relay into the namespace, under a chroot of its own that is removed at the end).
// The listener and the sniffer live in one namespace of a veth pair (test/helpers/netns.ts); the generator sends from
// the other; the sniffer uploads to a sink beside it that answers 202 (splitcap's cost is not the agent's).
import { execFileSync, fork } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SOURCE_EXEC_ARGV } from '@fleetcap/lib/runtime/entry';
import type { ZkClient } from '@fleetcap/lib/zookeeper/client';
import { createVethPair, destroy, nsSpawn, relayZooKeeper, type VethPair } from '../../test/helpers/netns.ts';
import { removeZkTree, uniqueId, zkConnect } from '../../test/helpers/stack.ts';
import { syntheticCapture } from '../../test/helpers/synthetic-sessions.ts';
import {
  collect,
  cpuSeconds,
  processTree,
  rssKiB,
  socketMemoryKeeper,
  spawnIn,
  startSink,
  trafgen,
  trafgenConfig,
  waitFor,
} from '../capture/traffic.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { values } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    'idle-seconds': { type: 'string' },
    'load-seconds': { type: 'string' },
    pps: { type: 'string', default: '10000' },
    starts: { type: 'string' },
    'no-build': { type: 'boolean', default: false },
  },
});
const short = values.short === true;
const idleSeconds = Number(values['idle-seconds'] ?? (short ? 15 : 60));
const loadSeconds = Number(values['load-seconds'] ?? (short ? 20 : 120));
const pps = Number(values.pps);
const starts = Number(values.starts ?? (short ? 3 : 5));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

if (process.getuid?.() !== 0) {
  console.error('bench/agent-footprint: needs root (network namespaces and packet capture)');
  process.exit(2);
}
for (const [cmd, hint] of [
  ['trafgen', 'apt-get install netsniff-ng'],
  ['tcpdump', 'apt-get install tcpdump'],
]) {
  try {
    execFileSync('which', [cmd!], { stdio: 'pipe' });
  } catch {
    console.error(`bench/agent-footprint: ${cmd} is not installed (${hint})`);
    process.exit(2);
  }
}
if (!values['no-build']) {
  const t0 = Date.now();
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'pipe', timeout: 900_000 });
  console.log(`npm run build: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
const listenerMain = join(root, 'apps/listener/dist/main.js');
// What the compiled listener forks: the bundle `npm run build` makes (scripts/bundle-sniffer.mjs).
const snifferMain = join(root, 'apps/sniffer/dist/main.bundle.mjs');
for (const f of [listenerMain, snifferMain])
  if (!existsSync(f)) {
    console.error(`bench/agent-footprint: ${f} is missing: run 'npm run build' (or drop --no-build)`);
    process.exit(2);
  }

const pair: VethPair = createVethPair();
const socketMemory = socketMemoryKeeper();
const agentId = uniqueId('fca-footprint');
const chroot = `/fca-bench-${agentId}`;
let rootZk: ZkClient | undefined;
const teardown = async () => {
  destroy(pair);
  socketMemory.restore();
  if (rootZk !== undefined) {
    await removeZkTree(rootZk, chroot).catch(() => undefined);
    await rootZk.close();
  }
};
process.once('SIGINT', () => {
  void teardown().then(() => process.exit(130));
});

/** What a process of the agent is, from its command line. */
function role(pid: number): string {
  let argv: string[] = [];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {}
  const line = argv.join(' ');
  if (line.includes('listener/dist/main.js')) return 'listener';
  if (/sniffer\/dist\/main(\.bundle\.mjs|\.js)/.test(line)) return 'sniffer';
  if (/tcpdump/.test(line)) return 'tcpdump';
  return argv[0] ?? '?';
}

interface Phase {
  name: string;
  seconds: number;
  /** Median over the phase's samples of the whole tree's RSS, MiB, and per process (pid: role, MiB). */
  rssMiB: number;
  rssMaxMiB: number;
  processes: Array<{ pid: number; role: string; rssMiB: number }>;
  /** CPU of the whole tree over the phase, % of one core. */
  cpuPercent: number;
  sent?: number;
  sentPps?: number;
}

/** Samples RSS of the tree under `rootPid` each second while `during` runs; CPU from the tree's totals before/after. */
async function measure(
  name: string,
  rootPid: number,
  during: () => Promise<{ sent: number; pps: number } | undefined>,
) {
  const pidsAtStart = processTree(rootPid);
  const cpu0 = pidsAtStart.reduce((a, p) => a + cpuSeconds(p), 0);
  const t0 = Date.now();
  const samples: number[] = [];
  let last: Array<{ pid: number; role: string; rssMiB: number }> = [];
  const sample = () => {
    const pids = processTree(rootPid);
    last = pids.map((pid) => ({ pid, role: role(pid), rssMiB: rssKiB(pid) / 1024 }));
    samples.push(last.reduce((a, p) => a + p.rssMiB, 0));
  };
  sample();
  const timer = setInterval(sample, 1000);
  const traffic = await during();
  clearInterval(timer);
  sample();
  const seconds = (Date.now() - t0) / 1000;
  // Processes that came and went meanwhile are not counted (the agent's tree is steady in these phases).
  const cpu1 = pidsAtStart.reduce((a, p) => a + cpuSeconds(p), 0);
  const phase: Phase = {
    name,
    seconds,
    rssMiB: median(samples),
    rssMaxMiB: Math.max(...samples),
    processes: last,
    cpuPercent: ((cpu1 - cpu0) / seconds) * 100,
    ...(traffic ? { sent: traffic.sent, sentPps: traffic.pps } : {}),
  };
  console.log(
    `  ${name}: RSS ${phase.rssMiB.toFixed(0)} MiB (max ${phase.rssMaxMiB.toFixed(0)}), CPU ${phase.cpuPercent.toFixed(1)}% of one core over ${seconds.toFixed(0)} s${traffic ? `; sent ${traffic.sent} at ${Math.round(traffic.pps)} pps` : ''}`,
  );
  for (const p of last) console.log(`    ${p.role.padEnd(9)} pid ${p.pid}: ${p.rssMiB.toFixed(1)} MiB`);
  return phase;
}

const pause = (seconds: number) => new Promise<undefined>((r) => setTimeout(() => r(undefined), seconds * 1000));

let cfg = '';
const load = async (seconds: number) => {
  const r = await trafgen(pair, cfg, pps, 1, seconds);
  socketMemory.restore();
  return { sent: r.sent, pps: r.sent / r.seconds };
};

/** A compiled (or, with tsx, source) sniffer forked in the capture namespace: ms from the fork to 'capturing'. */
async function snifferStartMs(compiled: boolean, sinkPort: number, i: number): Promise<number> {
  const entry = compiled ? snifferMain : join(root, 'apps/sniffer/src/main.ts');
  const t0 = Date.now();
  // fork() cannot enter a namespace; `ip netns exec` keeps the IPC channel's descriptor (NODE_CHANNEL_FD) open.
  const child = fork(entry, [], {
    execPath: 'ip',
    execArgv: ['netns', 'exec', pair.nsB, process.execPath, ...(compiled ? [] : SOURCE_EXEC_ARGV)],
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: {
      ...process.env,
      FLEETCAP_AGENT_CONFIG: JSON.stringify({
        agentId: `${agentId}-start-${i}`,
        device: pair.devB,
        bpfFilter: '',
        splitcapUrl: `http://127.0.0.1:${sinkPort}`,
        revision: 1,
      }),
      FLEETCAP_AGENT_TOKEN: 'bench-footprint-token',
      FLEETCAP_UPLOAD_PLAINTEXT: 'loopback',
      FLEETCAP_SPOOL_DIR: join(pair.dir, `start-${i}`),
      FLEETCAP_LOG_LEVEL: 'warn',
    },
  });
  pair.children.push(child);
  const out = collect(child);
  let capturing = 0;
  child.on('message', (m: { type?: string }) => {
    if (m?.type === 'capturing' && capturing === 0) capturing = Date.now();
  });
  await waitFor('sniffer capturing', () => capturing > 0, 120_000, out.text);
  child.kill('SIGTERM');
  await out.exited;
  return capturing - t0;
}

const loadStart = loadavg()[0]!;
try {
  const specs = Array.from({ length: 4000 }, (_, i) => ({
    proto: i % 4 === 0 ? ('udp' as const) : ('tcp' as const),
    packets: 10,
  }));
  cfg = join(pair.dir, 'replay.trafgen');
  writeFileSync(cfg, trafgenConfig(syntheticCapture(specs, 4242).pcap, 4000));
  const sinkPort = await startSink(pair, pair.nsB);

  // The peer first: tcpdump -w /dev/null on the same end, with the sniffer's kernel buffer (16 MiB, mapped into its
  // RSS as the sniffer's tcpdump's is), idle then under the same traffic.
  console.log(`tcpdump -w /dev/null (peer): idle ${idleSeconds} s, then ${pps} pps for ${loadSeconds} s`);
  const tcpdump = spawnIn(pair, pair.nsB, 'tcpdump', [
    '-i',
    pair.devB,
    '-s',
    '262144',
    '-B',
    '16384',
    '-U',
    '-w',
    '/dev/null',
  ]);
  const tcpdumpOut = collect(tcpdump);
  await waitFor('tcpdump', () => /listening on/.test(tcpdumpOut.text()), 30_000, tcpdumpOut.text);
  const peerIdle = await measure('idle', tcpdump.pid!, () => pause(idleSeconds));
  const peerLoad = await measure(`${pps} pps`, tcpdump.pid!, () => load(loadSeconds));
  tcpdump.kill('SIGINT');
  await tcpdumpOut.exited;

  // The agent: the compiled listener, its config in ZooKeeper.
  rootZk = await zkConnect();
  await rootZk.mkdirp(`${chroot}/fleetcap/agents/${agentId}`);
  await rootZk.create(
    `${chroot}/fleetcap/agents/${agentId}/config`,
    Buffer.from(
      JSON.stringify({
        agentId,
        device: pair.devB,
        bpfFilter: '',
        splitcapUrl: `http://127.0.0.1:${sinkPort}`,
        enabled: true,
        revision: 1,
      }),
    ),
  );
  await relayZooKeeper(pair, pair.nsB);
  /** The agent with (FLEETCAP_SNIFFER_STANDBY=1, the default) or without its standby sniffer, idle then loaded. */
  async function agentRun(standby: boolean) {
    const agent = nsSpawn(pair, pair.nsB, process.execPath, [listenerMain], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        FLEETCAP_AGENT_ID: agentId,
        FLEETCAP_ZK_CONNECT: `127.0.0.1:2181${chroot}`,
        FLEETCAP_AGENT_TOKEN: 'bench-footprint-token',
        FLEETCAP_UPLOAD_PLAINTEXT: 'loopback',
        FLEETCAP_SPOOL_DIR: join(pair.dir, 'spool'),
        FLEETCAP_SNIFFER_STANDBY: standby ? '1' : '0',
        FLEETCAP_LOG_LEVEL: 'warn',
      },
    });
    const agentOut = collect(agent);
    const tree = () => processTree(agent.pid!).map(role);
    // Capturing (a sniffer with its tcpdump), and with a standby a second sniffer.
    await waitFor(
      `the agent (listener, sniffer capturing${standby ? ', standby' : ''})`,
      () => tree().filter((r) => r === 'sniffer').length >= (standby ? 2 : 1) && tree().includes('tcpdump'),
      120_000,
      agentOut.text,
    );
    await new Promise((r) => setTimeout(r, 3000)); // the standby's modules loaded
    console.log(
      `agent (compiled: listener + sniffer + its tcpdump${standby ? ' + standby sniffer' : ', no standby'}): idle, then ${pps} pps`,
    );
    const idle = await measure('idle', agent.pid!, () => pause(idleSeconds));
    const loaded = await measure(`${pps} pps`, agent.pid!, () => load(loadSeconds));
    // The standby is the sniffer with no tcpdump child.
    const withCapture = new Set(
      processTree(agent.pid!)
        .filter((p) => role(p) === 'tcpdump')
        .map(parentOf),
    );
    const standbyMiB = loaded.processes.find((p) => p.role === 'sniffer' && !withCapture.has(p.pid))?.rssMiB ?? 0;
    agent.kill('SIGTERM');
    await agentOut.exited;
    return { idle, loaded, standbyMiB };
  }
  const withStandby = await agentRun(true);
  const agentIdle = withStandby.idle;
  const agentLoad = withStandby.loaded;
  const standbyLoad = withStandby.standbyMiB;
  const lean = await agentRun(false);

  // Start times: what a hand-over would wait for without a standby.
  console.log(`sniffer start, fork to 'capturing' (${starts} each):`);
  const compiledMs: number[] = [];
  const sourceMs: number[] = [];
  for (let i = 0; i < starts; i++) {
    compiledMs.push(await snifferStartMs(true, sinkPort, i));
    sourceMs.push(await snifferStartMs(false, sinkPort, 100 + i));
  }
  console.log(`  compiled ${compiledMs.join(', ')} ms; tsx from sources ${sourceMs.join(', ')} ms`);
  const loadEnd = loadavg()[0]!;

  console.log('\n| measure | agent (compiled) | tcpdump -w /dev/null | goal |');
  console.log('|---|---|---|---|');
  console.log(
    `| RSS idle | ${agentIdle.rssMiB.toFixed(0)} MiB | ${peerIdle.rssMiB.toFixed(0)} MiB | ≤ 150 MB in all |`,
  );
  console.log(
    `| RSS at ${pps} pps (max) | ${agentLoad.rssMiB.toFixed(0)} MiB (${agentLoad.rssMaxMiB.toFixed(0)}), of which the standby ${standbyLoad.toFixed(0)} | ${peerLoad.rssMiB.toFixed(0)} MiB | ≤ 150 MB |`,
  );
  console.log(
    `| without the standby (FLEETCAP_SNIFFER_STANDBY=0): RSS idle / at ${pps} pps (max), CPU | ${lean.idle.rssMiB.toFixed(0)} / ${lean.loaded.rssMiB.toFixed(0)} MiB (${lean.loaded.rssMaxMiB.toFixed(0)}), ${lean.loaded.cpuPercent.toFixed(1)}% | | |`,
  );
  console.log(`| CPU idle | ${agentIdle.cpuPercent.toFixed(1)}% | ${peerIdle.cpuPercent.toFixed(1)}% | |`);
  console.log(
    `| CPU at ${pps} pps | ${agentLoad.cpuPercent.toFixed(1)}% of one core | ${peerLoad.cpuPercent.toFixed(1)}% | ≤ 25% |`,
  );
  console.log(`| sniffer start (median) | compiled ${median(compiledMs)} ms | tsx ${median(sourceMs)} ms | |`);
  console.log(`| load average | ${loadStart.toFixed(1)} at the start, ${loadEnd.toFixed(1)} at the end | | |`);
  console.log(
    `bench-result: ${JSON.stringify({
      pps,
      idleSeconds,
      loadSeconds,
      agentIdleRssMiB: agentIdle.rssMiB,
      agentLoadRssMiB: agentLoad.rssMiB,
      agentLoadRssMaxMiB: agentLoad.rssMaxMiB,
      standbyRssMiB: standbyLoad,
      agentIdleCpuPercent: agentIdle.cpuPercent,
      agentLoadCpuPercent: agentLoad.cpuPercent,
      agentLoadSentPps: agentLoad.sentPps,
      leanIdleRssMiB: lean.idle.rssMiB,
      leanLoadRssMaxMiB: lean.loaded.rssMaxMiB,
      leanLoadCpuPercent: lean.loaded.cpuPercent,
      tcpdumpIdleRssMiB: peerIdle.rssMiB,
      tcpdumpLoadRssMiB: peerLoad.rssMiB,
      tcpdumpLoadCpuPercent: peerLoad.cpuPercent,
      snifferStartCompiledMs: median(compiledMs),
      snifferStartSourceMs: median(sourceMs),
      compiledMs,
      sourceMs,
      processes: agentLoad.processes,
      loadStart,
      loadEnd,
    })}`,
  );
} finally {
  await teardown();
}

function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}
