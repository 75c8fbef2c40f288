// Checks that a change to the offline path (reader, sessionizer, session records, metadata parsers, the sessions
// command) left `fleetcap sessions --json` byte for byte the same: this checkout against a reference checkout (one
// with node_modules installed, e.g. the commit before the change), with and without metadata, over every shared
// capture (../shared/pcaps: zeek, tcpdump-tests, slips; 1,621 files, each its own capture) and over the bench's large
// capture when it has been built (run.ts). Exit 0 when every output is identical, 1 with the first difference.
//   node --import tsx --conditions=fleetcap-source bench/sessionize/same-output.ts --reference DIR [--pcaps DIR]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = new URL('../../', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    reference: { type: 'string' },
    pcaps: { type: 'string', default: resolve(root, '../shared/pcaps') },
    large: { type: 'string', default: join(tmpdir(), 'fleetcap-bench-sessionize/large-600000.pcap') },
  },
});
if (!values.reference || !existsSync(join(values.reference, 'cli/bin/fleetcap.mjs'))) {
  console.error('bench/sessionize/same-output: --reference DIR must be a fleetcap checkout (cli/bin/fleetcap.mjs)');
  process.exit(2);
}
const reference = resolve(values.reference);
const pcaps = values.pcaps!;

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else if (/\.(pcap|pcapng|cap)$/.test(name)) out.push(path);
  }
  return out;
}

const files = ['zeek', 'tcpdump-tests', 'slips'].flatMap((corpus) => filesUnder(join(pcaps, corpus)));
const list = join(tmpdir(), `fleetcap-same-output-${process.pid}.txt`);
writeFileSync(list, `${files.join('\n')}\n`);

function output(checkout: string, args: string[]): string {
  const result = spawnSync(process.execPath, [join(checkout, 'cli/bin/fleetcap.mjs'), 'sessions', '--json', ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  // Exit 2 is "some file unreadable": the shared corpora hold files broken on purpose.
  if (result.status !== 0 && result.status !== 2) throw new Error(`${checkout}: exit ${result.status}`);
  return result.stdout;
}

const runs: Array<{ name: string; args: string[] }> = [
  { name: `${files.length} shared captures, metadata`, args: ['--files-from', list] },
  { name: `${files.length} shared captures, --no-metadata`, args: ['--no-metadata', '--files-from', list] },
];
if (existsSync(values.large!)) runs.push({ name: `large capture ${values.large}, metadata`, args: [values.large!] });
else console.log(`(no large capture at ${values.large}: run bench/sessionize/run.ts once to build it)`);

let differ = false;
for (const run of runs) {
  const ours = output(root, run.args);
  const theirs = output(reference, run.args);
  if (ours === theirs) {
    console.log(`identical: ${run.name} (${ours.split('\n').length - 1} lines)`);
    continue;
  }
  differ = true;
  const a = ours.split('\n');
  const b = theirs.split('\n');
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  console.log(`DIFFERENT: ${run.name}, first at line ${i + 1}:\n  this checkout: ${a[i]}\n  reference:     ${b[i]}`);
}
process.exit(differ ? 1 : 0);
