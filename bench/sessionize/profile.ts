// Where `fleetcap sessions --json` spends its time (issue 20, part 1: "profile and say what the time goes to"): runs
// the command once under `node --cpu-prof` and sorts every sample into a phase by the fleetcap code nearest to the
// sample's leaf (reading a record, decoding and sessionizing, the session record, application metadata, JSON
// output), with the garbage collector and everything outside fleetcap's code (start-up, module loading) apart.
// Shares of the busy samples (idle excluded); run it on a quiet machine or read the shares, not the milliseconds.
//   node --import tsx --conditions=fleetcap-source bench/sessionize/profile.ts [--sources] [--no-metadata] FILE
// Profiles cli/dist/main.js (npm run build first), the form the image ships and the bench measures; --sources profiles
// cli/bin/fleetcap.mjs (through tsx) instead. --compiled, the default now, is still accepted.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const root = new URL('../../', import.meta.url).pathname;
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    sources: { type: 'boolean', default: false },
    compiled: { type: 'boolean', default: false },
    'no-metadata': { type: 'boolean', default: false },
  },
});
const file = positionals[0];
if (!file) {
  console.error('usage: bench/sessionize/profile.ts [--sources] [--no-metadata] FILE');
  process.exit(64);
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The phase of a fleetcap source file (sources or the compiled build), or undefined for code that is not ours. */
function phaseOf(url: string, functionName: string): string | undefined {
  const m = /\/(lib|cli)\/(?:src|dist)\/(.*)\.(?:ts|js)$/.exec(url);
  if (!m) return undefined;
  const path = m[2]!;
  if (path.startsWith('pcap/')) return 'reading records (pcap reader)';
  if (path.startsWith('packet/') || path.startsWith('session/')) return 'decoding and sessionizing';
  if (path.startsWith('session-record/')) return 'session record (conn_state, history, Community ID)';
  if (path.startsWith('app-metadata/')) return 'application metadata';
  if (path === 'commands/sessions') {
    return functionName === 'fileChunks' ? 'reading records (file reads)' : 'JSON output';
  }
  return 'other fleetcap code (command line, start-up)';
}

const dir = mkdtempSync(join(tmpdir(), 'fleetcap-sessionize-profile-'));
try {
  const entry = values.sources ? join(root, 'cli/bin/fleetcap.mjs') : join(root, 'cli/dist/main.js');
  const args = ['--cpu-prof', `--cpu-prof-dir=${dir}`, entry, 'sessions', '--json'];
  if (values['no-metadata']) args.push('--no-metadata');
  const run = spawnSync(process.execPath, [...args, file], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (run.status !== 0) throw new Error(`fleetcap sessions exited ${run.status}`);
  // tsx's loader thread writes a profile of its own: the main thread's is the one with fleetcap's code in it.
  const profiles = readdirSync(dir).map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as CpuProfile);
  const main = profiles.find((p) =>
    p.nodes.some((n) => /\/cli\/(src|dist)\/commands\/sessions\./.test(n.callFrame.url)),
  );
  if (!main) throw new Error('no profile holds the sessions command');
  const byId = new Map(main.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of main.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const phaseOfNode = new Map<number, string>();
  const phaseFor = (id: number): string => {
    const known = phaseOfNode.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id)!;
    const name = node.callFrame.functionName;
    let phase: string;
    if (name === '(garbage collector)') phase = 'garbage collector';
    else if (name === '(idle)') phase = 'idle';
    else {
      phase = phaseOf(node.callFrame.url, name) ?? '';
      if (phase === '') {
        const up = parent.get(id);
        phase = up === undefined ? 'outside fleetcap code (start-up, module loading)' : phaseFor(up);
      }
    }
    phaseOfNode.set(id, phase);
    return phase;
  };
  const totals = new Map<string, number>();
  main.samples.forEach((id, i) => {
    const phase = phaseFor(id);
    totals.set(phase, (totals.get(phase) ?? 0) + (main.timeDeltas[i] ?? 0));
  });
  totals.delete('idle');
  let busy = 0;
  for (const t of totals.values()) busy += t;
  console.log(
    `${values.sources ? 'cli/bin/fleetcap.mjs' : 'cli/dist/main.js'} sessions --json` +
      `${values['no-metadata'] ? ' --no-metadata' : ''} ${file}: ${(busy / 1e6).toFixed(2)} s busy in the profile`,
  );
  console.log('| phase | share |\n|---|---|');
  for (const [phase, t] of [...totals].sort((a, b) => b[1] - a[1])) {
    console.log(`| ${phase} | ${((100 * t) / busy).toFixed(1)} % |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
