// Benchmark: offline sessionizing (issue 20, part 1) and the cost of the session record and application metadata
// (issue 17: `fleetcap sessions --json` with metadata at most 20% slower than before issue 17). On the same files in
// the same run, each median of --runs runs, the tools interleaved run by run so that a change in the machine's load
// hits all of them alike:
//   - fleetcap sessions --json (metadata on, the default) and --no-metadata, from the compiled build
//     (cli/dist/main.js, what the image runs; `npm run build` is run first): the sources through tsx pay ~0.3 s of CPU
//     per start for the loader, which a deployment does not, and which made a short input measure start-up alone;
//   - with --sources, also the same command from the sources (cli/bin/fleetcap.mjs, through tsx);
//   - the fleetcap of before issue 17 (--baseline DIR: a checkout of it with node_modules installed), compiled too:
//     its cli/dist/main.js when it has one, else an esbuild bundle of its sources made into the bench's temporary
//     folder (bundle.ts; that code has no build of its own), so that both sides are compiled code;
//   - ndpiReader -i FILE (Debian libndpi-bin) and tshark -q -z conv,tcp -z conv,udp -r FILE, the peers.
// Inputs, built by the bench from ../shared/pcaps: a large capture (--packets, default 600,000: the Zeek and Slips
// traces in renumbered copies, build-capture.ts) and one capture per shared corpus (its Ethernet packets once).
// Writes RESULTS.md and results.json to --out (default: this folder).
//   node --import tsx --conditions=fleetcap-source bench/sessionize/run.ts [--runs 5] [--packets 600000]
//        [--baseline /path/to/fleetcap-before-17] [--sources] [--out DIR] [--short]
// --short (CI): a 200,000-packet capture (large enough that start-up does not dominate) and the Slips corpus, one run.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildLargeCapture, captureFilesUnder } from './build-capture.ts';
import { bundleCli } from './bundle.ts';

const root = new URL('../../', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    runs: { type: 'string' },
    packets: { type: 'string' },
    baseline: { type: 'string' },
    out: { type: 'string', default: join(root, 'bench/sessionize') },
    pcaps: { type: 'string', default: resolve(root, '../shared/pcaps') },
    short: { type: 'boolean', default: false },
    sources: { type: 'boolean', default: false },
    // Accepted for the command lines of before: the compiled build is what is measured by default now.
    compiled: { type: 'boolean', default: false },
  },
});
const sources = values.sources === true;
const short = values.short === true;
const runs = Number(values.runs ?? (short ? 1 : 5));
const largePackets = Number(values.packets ?? (short ? 200_000 : 600_000));
const pcaps = values.pcaps!;
const baseline = values.baseline ? resolve(values.baseline) : undefined;
const out = resolve(values.out!);

if (!existsSync(pcaps)) {
  console.error(`bench/sessionize: no shared captures at ${pcaps} (give --pcaps DIR)`);
  process.exit(2);
}
if (baseline && !existsSync(join(baseline, 'cli/bin/fleetcap.mjs'))) {
  console.error(`bench/sessionize: --baseline ${baseline} holds no cli/bin/fleetcap.mjs (a fleetcap checkout)`);
  process.exit(2);
}

interface Tool {
  name: string;
  command: (file: string) => string[];
}

const sourceFleetcap =
  (checkout: string, ...extra: string[]) =>
  (file: string) => [process.execPath, join(checkout, 'cli/bin/fleetcap.mjs'), 'sessions', '--json', ...extra, file];
const compiledFleetcap =
  (entry: string, ...extra: string[]) =>
  (file: string) => [process.execPath, entry, 'sessions', '--json', ...extra, file];
console.log('npm run build (the compiled CLI, cli/dist/main.js)');
const build = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  console.error('bench/sessionize: npm run build failed (the bench measures the compiled CLI)');
  process.exit(2);
}
const work = join(tmpdir(), 'fleetcap-bench-sessionize');
mkdirSync(work, { recursive: true });
/** The compiled CLI of the checkout of before issue 17: its own build, else a bundle made here. */
async function baselineEntry(dir: string): Promise<{ entry: string; how: string }> {
  const own = join(dir, 'cli/dist/main.js');
  if (existsSync(own)) return { entry: own, how: 'its own build (cli/dist/main.js)' };
  const bundleDir = join(work, `baseline-${createHash('sha256').update(dir).digest('hex').slice(0, 12)}`);
  rmSync(bundleDir, { recursive: true, force: true });
  mkdirSync(bundleDir, { recursive: true });
  return {
    entry: await bundleCli(dir, bundleDir),
    how: `an esbuild bundle of its sources (bench/sessionize/bundle.ts; it has no build of its own), in ${bundleDir}`,
  };
}
const before = baseline ? await baselineEntry(baseline) : undefined;
const ours = join(root, 'cli/dist/main.js');
const tools: Tool[] = [
  { name: 'fleetcap', command: compiledFleetcap(ours) },
  { name: 'fleetcap --no-metadata', command: compiledFleetcap(ours, '--no-metadata') },
  ...(sources ? [{ name: 'fleetcap from sources (tsx)', command: sourceFleetcap(root) }] : []),
  ...(before ? [{ name: 'fleetcap before #17', command: compiledFleetcap(before.entry) }] : []),
  ...(before && sources
    ? [{ name: 'fleetcap before #17 from sources (tsx)', command: sourceFleetcap(baseline!) }]
    : []),
  { name: 'ndpiReader', command: (file) => ['ndpiReader', '-i', file] },
  { name: 'tshark', command: (file) => ['tshark', '-q', '-z', 'conv,tcp', '-z', 'conv,udp', '-r', file] },
];

interface Timing {
  wall: number;
  cpu: number;
}

/** Runs `argv` with its output to /dev/null; wall and CPU (user + system) seconds from bash's `time`. */
function timed(argv: string[]): Timing {
  const errors = join(tmpdir(), `fleetcap-bench-sessionize-${process.pid}.err`);
  const result = spawnSync(
    'bash',
    ['-c', 'TIMEFORMAT="%3R %3U %3S"; time "$@" >/dev/null 2>"$BENCH_ERRORS"', 'bench', ...argv],
    { encoding: 'utf8', env: { ...process.env, BENCH_ERRORS: errors } },
  );
  const m = /(\d+\.\d+) (\d+\.\d+) (\d+\.\d+)\s*$/.exec(result.stderr);
  if (result.status !== 0 || !m) {
    throw new Error(`${argv.join(' ')} failed (exit ${result.status}); its errors are in ${errors}`);
  }
  return { wall: Number(m[1]), cpu: Number(m[2]) + Number(m[3]) };
}

/** The sessions and packets fleetcap reports for `file` (its summary line). */
function fleetcapCounts(file: string): { packets: number; sessions: number } {
  const result = spawnSync(process.execPath, [ours, 'sessions', '--json', file], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  const lines = result.stdout.trimEnd().split('\n');
  const summary = JSON.parse(lines[lines.length - 1]!) as { read: number; sessions: number };
  return { packets: summary.read, sessions: summary.sessions };
}

function version(argv: string[], pattern: RegExp): string {
  const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  return pattern.exec(`${result.stdout}${result.stderr}`)?.[0] ?? 'unknown';
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

// Inputs: built once per size into the temporary folder (a rerun reuses them).
const inputs: Array<{ name: string; file: string }> = [];
const largeFile = join(work, `large-${largePackets}.pcap`);
if (!existsSync(largeFile)) {
  const sources = [...captureFilesUnder(join(pcaps, 'zeek')), ...captureFilesUnder(join(pcaps, 'slips'))];
  const built = buildLargeCapture(sources, `${largeFile}.part`, largePackets);
  spawnSync('mv', [`${largeFile}.part`, largeFile]);
  console.log(`built ${largeFile}: ${built.packets} packets, ${built.copies} copies of ${built.sourceFiles} files`);
}
inputs.push({ name: `large capture (zeek + slips, ${largePackets.toLocaleString('en')} packets)`, file: largeFile });
for (const corpus of short ? ['slips'] : ['zeek', 'tcpdump-tests', 'slips']) {
  const file = join(work, `corpus-${corpus}.pcap`);
  if (!existsSync(file)) buildLargeCapture(captureFilesUnder(join(pcaps, corpus)), file);
  inputs.push({ name: `corpus ${corpus} (its Ethernet packets)`, file });
}

const startLoad = loadavg()[0]!;
const counts = inputs.map((input) => fleetcapCounts(input.file));
// One untimed run of everything: the page cache, tsx's transform cache and the baseline's are warm for all alike.
for (const input of inputs) for (const tool of tools) timed(tool.command(input.file));
const timings = inputs.map(() => tools.map(() => [] as Timing[]));
for (let run = 0; run < runs; run++) {
  inputs.forEach((input, i) => {
    tools.forEach((tool, t) => {
      timings[i]![t]!.push(timed(tool.command(input.file)));
    });
  });
  console.log(`run ${run + 1}/${runs} done`);
}
const endLoad = loadavg()[0]!;

const results = inputs.map((input, i) => {
  const byTool: Record<string, { wall: number; cpu: number; walls: number[]; cpus: number[] }> = {};
  tools.forEach((tool, t) => {
    const ts = timings[i]![t]!;
    byTool[tool.name] = {
      wall: median(ts.map((x) => x.wall)),
      cpu: median(ts.map((x) => x.cpu)),
      walls: ts.map((x) => x.wall),
      cpus: ts.map((x) => x.cpu),
    };
  });
  const ours = byTool.fleetcap!;
  const ratio = (peer: string, kind: 'wall' | 'cpu') => byTool[peer]![kind] / ours[kind];
  const ratioOf = (name: string, reference: string, kind: 'wall' | 'cpu') =>
    byTool[name] && byTool[reference] ? byTool[name]![kind] / byTool[reference]![kind] : undefined;
  const versusBaseline = (name: string, kind: 'wall' | 'cpu') =>
    byTool['fleetcap before #17'] ? byTool[name]![kind] / byTool['fleetcap before #17']![kind] : undefined;
  return {
    input: input.name,
    file: input.file,
    ...counts[i]!,
    tools: byTool,
    ratios: {
      ndpiReader: { wall: ratio('ndpiReader', 'wall'), cpu: ratio('ndpiReader', 'cpu') },
      tshark: { wall: ratio('tshark', 'wall'), cpu: ratio('tshark', 'cpu') },
      metadataVsBefore17: { wall: versusBaseline('fleetcap', 'wall'), cpu: versusBaseline('fleetcap', 'cpu') },
      sourcesVsBefore17Sources: {
        wall: ratioOf('fleetcap from sources (tsx)', 'fleetcap before #17 from sources (tsx)', 'wall'),
        cpu: ratioOf('fleetcap from sources (tsx)', 'fleetcap before #17 from sources (tsx)', 'cpu'),
      },
      noMetadataVsBefore17: {
        wall: versusBaseline('fleetcap --no-metadata', 'wall'),
        cpu: versusBaseline('fleetcap --no-metadata', 'cpu'),
      },
    },
  };
});

const f2 = (x: number | undefined) => (x === undefined ? '—' : x.toFixed(2));
const s2 = (x: { wall: number; cpu: number }) => `${x.wall.toFixed(2)} s (${x.cpu.toFixed(2)})`;
const lines = [
  '# Offline sessionizing: fleetcap, ndpiReader and tshark on the same files (bench/sessionize)',
  '',
  `Median of ${runs} run(s) each, seconds of wall time (CPU seconds, user + system, in parentheses); the tools`,
  "interleaved run by run. Ratios are the peer's time over fleetcap's (above 1: fleetcap is faster) and",
  "fleetcap's time over the fleetcap of before issue 17 (issue 17's bar: at most 1.20 with metadata on)." +
    ' fleetcap is the compiled CLI (cli/dist/main.js, npm run build), the form the image runs; "from sources"' +
    ' ratios (--sources) compare the two checkouts both run through tsx, which adds the same ~0.3 s of CPU to each.',
  '',
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}; load average ${startLoad.toFixed(1)} at the start,` +
    ` ${endLoad.toFixed(1)} at the end. Node ${process.version}, ` +
    `${version(['ndpiReader', '-h'], /nDPI [\d.]+/)}, ${version(['tshark', '-v'], /TShark \(Wireshark\) [\d.]+/)}.`,
  before
    ? `Before issue 17: ${baseline}, compiled as ${before.how}.`
    : 'Before issue 17: not measured (no --baseline).',
  '',
  '| input | packets | sessions | ' +
    tools.map((t) => t.name).join(' | ') +
    ' | × ndpiReader | × tshark | vs before #17, metadata (no metadata) |',
  `|---|---|---|${tools.map(() => '---|').join('')}---|---|---|`,
  ...results.map(
    (r) =>
      `| ${r.input} | ${r.packets} | ${r.sessions} | ` +
      tools.map((t) => s2(r.tools[t.name]!)).join(' | ') +
      ` | ${f2(r.ratios.ndpiReader.wall)} (${f2(r.ratios.ndpiReader.cpu)})` +
      ` | ${f2(r.ratios.tshark.wall)} (${f2(r.ratios.tshark.cpu)})` +
      ` | ${f2(r.ratios.metadataVsBefore17.wall)} (${f2(r.ratios.noMetadataVsBefore17.wall)})` +
      ` cpu ${f2(r.ratios.metadataVsBefore17.cpu)} (${f2(r.ratios.noMetadataVsBefore17.cpu)})` +
      (r.ratios.sourcesVsBefore17Sources.cpu === undefined
        ? ''
        : `; from sources ${f2(r.ratios.sourcesVsBefore17Sources.wall)} cpu ${f2(r.ratios.sourcesVsBefore17Sources.cpu)}`) +
      ' |',
  ),
  '',
  'Commands, for FILE each input:',
  ...tools.map(
    (t) => `- ${t.name}: \`${t.command('FILE').join(' ').replace(root, '').replace(process.execPath, 'node')}\``,
  ),
  '',
];
const table = lines.join('\n');
console.log(`\n${table}`);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'RESULTS.md'), table);
writeFileSync(
  join(out, 'results.json'),
  `${JSON.stringify({ runs, startLoad, endLoad, baseline: baseline ?? null, baselineBuild: before?.how ?? null, results }, null, 2)}\n`,
);
