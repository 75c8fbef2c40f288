// What each phase of the offline path costs (issue 17's cost bar, issue 20 item 1), measured by adding the phases one
// at a time over the same capture held in memory, in the CPU time (user + system) of this process:
//   read      the pcap/pcapng reader alone (CaptureParser, one reused record);
//   sessions  + decoding and sessionizing (Sessionizer, no packet kept);
//   kept      + the first SESSION_MAX_PACKETS packets of each session with their payloads (what metadata reads);
//   records   + the session record (Community ID, Zeek's conn_state and history) on top of `sessions`;
//   metadata  + application metadata on top of `kept` (SessionMetadataCollector, every session's JSON);
//   all       reader, sessionizer, kept packets, records and metadata together (what `fleetcap sessions --json` does
//             before it writes its lines).
// Every phase runs through the command's own per-packet loop (sessionizeCapture, lib/src/session/sessionize-capture.ts)
// with the phases it adds, so that what is measured is what the command runs.
// Each phase runs --passes times in one process (default 3), the phases interleaved pass by pass. Pass 1 is what a
// one-shot command pays: the code is cold (interpreted, then compiled as it warms up); the later passes show the
// steady state. The difference between the two is the warm-up cost, which no steady-state profile shows.
// Then the whole command once (cli/dist/main.js sessions --json, and --entry ENTRY too, e.g. the bench's bundle of the
// code of before issue 17), with the CPU time of each of its threads: the main thread, and V8's worker threads (its
// optimizing compiler, which compiles hot functions concurrently, and the garbage collector's helpers). Linux only
// (/proc/self/task).
// Runs the compiled code (lib/dist, cli/dist: `npm run build` first), the form the bench measures; through tsx
// without the source condition, so that @fleetcap/lib resolves to lib/dist:
//   node --import tsx bench/sessionize/phases.ts [--passes 3] [--entry ENTRY] FILE
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type SessionizePhases, sessionizeCapture } from '@fleetcap/lib/session/sessionize-capture';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { passes: { type: 'string', default: '3' }, entry: { type: 'string', multiple: true, default: [] } },
});
const file = positionals[0];
if (!file) {
  console.error('usage: node --import tsx bench/sessionize/phases.ts [--passes 3] [--entry ENTRY] FILE');
  process.exit(64);
}
const passes = Number(values.passes);
const PHASES = ['read', 'sessions', 'kept', 'records', 'metadata', 'all'] as const;
type Phase = (typeof PHASES)[number];

const data = readFileSync(file);

/** Each phase through the command's own loop (sessionizeCapture), with the phases it adds. */
const PHASE_OPTIONS: Record<Phase, SessionizePhases> = {
  read: { sessions: false },
  sessions: { records: false },
  kept: { records: false, keepPackets: true },
  records: {},
  metadata: { records: false, metadata: true },
  all: { metadata: true },
};

async function runPhase(phase: Phase): Promise<number> {
  const started = process.cpuUsage();
  const run = await sessionizeCapture([data], PHASE_OPTIONS[phase]);
  if (run.error) throw new Error(`${file}: ${run.error.message}`);
  if (run.sessionizer) {
    for (const session of run.sessionizer.sessions.values()) {
      run.metadata?.jsonOf(session);
      const record = run.records?.get(session);
      if (record) void record.first.connState;
    }
  }
  const used = process.cpuUsage(started);
  return (used.user + used.system) / 1e6;
}

const seconds = new Map<Phase, number[]>(PHASES.map((p) => [p, []]));
for (let pass = 0; pass < passes; pass++) {
  for (const phase of PHASES) seconds.get(phase)!.push(await runPhase(phase));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
console.log(`${file}: CPU seconds per phase, ${passes} passes in one process (pass 1 cold, the others warm)`);
console.log('| phase | pass 1 (cold) | later passes, median (warm) |\n|---|---|---|');
for (const phase of PHASES) {
  const xs = seconds.get(phase)!;
  const warm = xs.length > 1 ? median(xs.slice(1)).toFixed(3) : '-';
  console.log(`| ${phase} | ${xs[0]!.toFixed(3)} | ${warm} |`);
}

/** Loaded with --import into the measured command: prints each thread's CPU seconds (utime + stime) at exit. */
const THREAD_REPORT = `
import { readdirSync, readFileSync } from 'node:fs';
process.on('exit', () => {
  const ticks = 100;
  const threads = readdirSync('/proc/self/task').map((task) => {
    const fields = readFileSync('/proc/self/task/' + task + '/stat', 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticks;
  });
  process.stderr.write('fleetcap-threads ' + JSON.stringify(threads) + '\\n');
});
`;
const root = new URL('../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'fleetcap-sessionize-phases-'));
try {
  const report = join(dir, 'thread-report.mjs');
  writeFileSync(report, THREAD_REPORT);
  console.log('\nThe whole command once, CPU seconds by thread (the first thread is the main one):');
  console.log('| command | main thread | V8 worker threads | total |\n|---|---|---|---|');
  for (const entry of [join(root, 'cli/dist/main.js'), ...(values.entry ?? [])]) {
    const run = spawnSync(process.execPath, ['--import', report, entry, 'sessions', '--json', file], {
      encoding: 'utf8',
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const line = run.stderr.split('\n').find((l) => l.startsWith('fleetcap-threads '));
    if (!line) throw new Error(`${entry}: no thread report (exit ${run.status}): ${run.stderr}`);
    const threads = JSON.parse(line.slice('fleetcap-threads '.length)) as number[];
    const main = threads[0]!;
    const total = threads.reduce((a, b) => a + b, 0);
    console.log(`| ${entry} | ${main.toFixed(2)} | ${(total - main).toFixed(2)} | ${total.toFixed(2)} |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
