// Benchmark: what a compiled sniffer's start costs, and what would shorten it (issue 20, part 7). Variants of the
// same sniffer, started in alternating rounds so that the host's load falls on all alike; for each, median over
// --rounds of: ms from the spawn to its 'capturing' log line, its CPU seconds and its RSS at that moment.
//   - dist: `node apps/sniffer/dist/main.js` as the build makes it (what the listener forks on the image);
//   - dist + ZooKeeper/argon2: the same with node-zookeeper-client and @node-rs/argon2 preloaded, which the
//     sniffer loaded before readSecretFile moved out of lib/src/auth/agent-credential.ts;
//   - bundle: the sniffer's sources bundled by esbuild into one file (no per-file module resolution);
//   - dist + small heap: --max-semi-space-size=1 --max-old-space-size=48.
//   node --import tsx --conditions=fleetcap-source bench/agent-footprint/sniffer-start.ts [--rounds 5] [--no-build]
// The sniffers capture on the loopback interface with a filter no traffic matches (udp port 9), and are stopped
// (by pid) as soon as they capture; nothing is sent. Needs root (packet capture) and tcpdump; `npm run build` first
// (or it is run unless --no-build).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '5' }, 'no-build': { type: 'boolean', default: false } },
});
const rounds = Number(values.rounds);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
if (process.getuid?.() !== 0) {
  console.error('bench/agent-footprint/sniffer-start: needs root (packet capture)');
  process.exit(2);
}
if (!values['no-build']) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'pipe', timeout: 900_000 });

const dir = mkdtempSync(join(tmpdir(), 'fca-sniffer-start-'));
const bundle = join(dir, 'sniffer.mjs');
await build({
  entryPoints: [join(root, 'apps/sniffer/src/main.ts')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  conditions: ['fleetcap-source'],
  logLevel: 'warning',
  // The CommonJS packages inside (pino, prom-client) call require().
  banner: {
    js: "import { createRequire as __fcaRequire } from 'node:module'; const require = __fcaRequire(import.meta.url);",
  },
});
const preload = join(root, 'apps/sniffer/dist/.bench-preload-old-imports.mjs');
const dist = join(root, 'apps/sniffer/dist/main.js');

const variants: Array<{ name: string; args: string[] }> = [
  { name: 'dist', args: [dist] },
  { name: 'dist + ZooKeeper/argon2 (before)', args: ['--import', preload, dist] },
  { name: 'bundle (esbuild, one file)', args: [bundle] },
  { name: 'dist + small heap', args: ['--max-semi-space-size=1', '--max-old-space-size=48', dist] },
];

function statOf(pid: number): { cpuSeconds: number; rssMiB: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    return { cpuSeconds: (Number(f[11]) + Number(f[12])) / 100, rssMiB: rss / 1024 };
  } catch {
    return { cpuSeconds: Number.NaN, rssMiB: Number.NaN };
  }
}

function startOnce(args: string[], i: number): Promise<{ ms: number; cpuSeconds: number; rssMiB: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: join(root, 'apps/sniffer'),
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      FLEETCAP_AGENT_CONFIG: JSON.stringify({
        agentId: `bench-start-${i}`,
        device: 'lo',
        bpfFilter: 'udp port 9',
        splitcapUrl: 'http://127.0.0.1:9',
        revision: 1,
      }),
      FLEETCAP_AGENT_TOKEN: 'bench-start-token',
      FLEETCAP_UPLOAD_PLAINTEXT: 'loopback',
      FLEETCAP_SPOOL_DIR: join(dir, `spool-${i}`),
      FLEETCAP_CAPTURE_LINGER_MS: '0',
      FLEETCAP_LOG_LEVEL: 'info',
    },
  });
  return new Promise((resolvePromise, reject) => {
    let text = '';
    let result: { ms: number; cpuSeconds: number; rssMiB: number } | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stdout.on('data', (c: Buffer) => {
      text += c.toString();
      if (result === undefined && text.includes('"msg":"capturing"')) {
        result = { ms: performance.now() - t0, ...statOf(child.pid!) };
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (c: Buffer) => {
      text += c.toString();
    });
    child.once('exit', () => {
      clearTimeout(timer);
      if (result !== undefined) resolvePromise(result);
      else reject(new Error(`sniffer ${args.join(' ')} exited before capturing: ${text.slice(-2000)}`));
    });
  });
}

const { writeFileSync } = await import('node:fs');
writeFileSync(preload, "import 'node-zookeeper-client';\nimport '@node-rs/argon2';\n");
const loadStart = loadavg()[0]!;
const samples = variants.map(() => [] as Array<{ ms: number; cpuSeconds: number; rssMiB: number }>);
try {
  for (let r = 0; r < rounds; r++)
    for (const [v, variant] of variants.entries()) samples[v]!.push(await startOnce(variant.args, r * 10 + v));
} finally {
  rmSync(preload, { force: true });
  rmSync(dir, { recursive: true, force: true });
}
const loadEnd = loadavg()[0]!;
console.log(
  `sniffer start, spawn → 'capturing', median of ${rounds} alternating rounds (load ${loadStart.toFixed(1)} → ${loadEnd.toFixed(1)}):`,
);
console.log('| variant | ms to capturing | CPU s | RSS MiB |');
console.log('|---|---|---|---|');
const summary: Record<string, { ms: number; cpuSeconds: number; rssMiB: number }> = {};
for (const [v, variant] of variants.entries()) {
  const s = samples[v]!;
  summary[variant.name] = {
    ms: median(s.map((x) => x.ms)),
    cpuSeconds: median(s.map((x) => x.cpuSeconds)),
    rssMiB: median(s.map((x) => x.rssMiB)),
  };
  const m = summary[variant.name]!;
  console.log(`| ${variant.name} | ${m.ms.toFixed(0)} | ${m.cpuSeconds.toFixed(2)} | ${m.rssMiB.toFixed(1)} |`);
}
console.log(`bench-result: ${JSON.stringify({ rounds, loadStart, loadEnd, summary })}`);
