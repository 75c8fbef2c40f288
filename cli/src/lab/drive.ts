// Drives the traffic lab (lab/) for `fleetcap run`: builds it, adds the receive-only mirror port the local agent
// captures on, runs its scenarios one by one and reads back each run's labels. The lab's scripts do the network
// work (namespaces, tools, isolation checks); this module only calls them and reports their failures.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseRunLabels, type RunLabels } from '@fleetcap/lib/features/labels';

export const LAB_SCENARIOS = ['benign', 'portscan', 'synflood', 'bruteforce', 'slowloris', 'sqli'] as const;
export type LabScenario = (typeof LAB_SCENARIOS)[number];

export const SCENARIO_TOOLS: Record<LabScenario, string> = {
  benign: 'curl, wget, dig, ssh and scp users',
  portscan: 'nmap',
  synflood: 'hping3',
  bruteforce: 'hydra',
  slowloris: 'slowhttptest',
  sqli: 'sqlmap',
};

/** The root-namespace end of lab/sensor-port.sh's mirror of the lab's capture point. */
export const SENSOR_INTERFACE = 'fcl-mon0';
/** Only the lab's frames: nothing else reaches the mirror port, and the filter says so to a reader. */
export const LAB_FILTER = 'net 10.77.0.0/24';

export interface LabDriver {
  /** Where this driver's runs go: apart from .lab/runs, so a demo never becomes training data. */
  runsDir: string;
  setUp(): Promise<void>;
  runScenario(scenario: LabScenario, seed: number): Promise<RunLabels>;
  tearDown(): Promise<void>;
}

export function parseScenarios(list: string): LabScenario[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) {
    if (!(LAB_SCENARIOS as readonly string[]).includes(n)) {
      throw new Error(`unknown lab scenario "${n}": choose from ${LAB_SCENARIOS.join(', ')}`);
    }
  }
  if (names.length === 0) throw new Error(`no lab scenario given: choose from ${LAB_SCENARIOS.join(', ')}`);
  return names as LabScenario[];
}

async function runScript(
  repoRoot: string,
  logFile: string,
  script: string,
  args: string[],
  env: Record<string, string>,
): Promise<void> {
  const log = createWriteStream(logFile, { flags: 'a' });
  // A Ctrl-C in the terminal reaches this child and the lab's tools too (one process group); run.sh's trap
  // stops its capture, and fleetcap's stop then tears the lab down.
  const child = spawn('bash', [join(repoRoot, 'lab', script), ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (d: Buffer) => {
    log.write(d);
    tail = (tail + d.toString()).slice(-2000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  log.end();
  if (code !== 0) {
    const lines = tail.trim().split('\n').slice(-6).join('\n  ');
    throw new Error(
      `bash lab/${script} ${args.join(' ')} ${signal ? `was killed by ${signal}` : `exited with ${code}`} (log: ${logFile}):\n  ${lines}`,
    );
  }
}

export function labDriver(repoRoot: string, logDir: string, runsDir: string): LabDriver {
  const logFile = join(logDir, 'lab.log');
  const env = { FCL_RUNS_DIR: runsDir };
  return {
    runsDir,
    async setUp() {
      if (process.getuid?.() !== 0) {
        throw new Error(
          'the traffic lab needs root (network namespaces, raw sockets): run as root, or pass --traffic loopback',
        );
      }
      await runScript(repoRoot, logFile, 'setup.sh', [], env);
      await runScript(repoRoot, logFile, 'sensor-port.sh', ['up'], env);
    },
    async runScenario(scenario, seed) {
      await runScript(repoRoot, logFile, 'run.sh', [scenario, String(seed)], env);
      const file = join(runsDir, `${scenario}-${seed}`, 'labels.json');
      if (!existsSync(file)) throw new Error(`lab run ${scenario}-${seed} wrote no ${file}`);
      return parseRunLabels(JSON.parse(readFileSync(file, 'utf8')), file);
    },
    async tearDown() {
      await runScript(repoRoot, logFile, 'teardown.sh', [], env);
    },
  };
}
