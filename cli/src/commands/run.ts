// `fleetcap run`: the whole system on local defaults, in one command. Brings the stack up, starts
// forecast, splitcap, two session-workers, config-sync and one host agent (listener + sniffer on
// the loopback interface), registers the agent by inserting its sniffer_config row with SQL (so its
// config travels the real way: binlog -> Debezium -> Kafka -> config-sync -> ZooKeeper -> listener),
// drives the traffic lab's benign and attack scenarios past the agent's interface (a mirror of the lab's capture
// point), uploads the public sample captures, waits for the verdicts and prints the report, with the verdicts
// scored against the lab's own labels. Ctrl-C stops everything; --keep leaves it running until Ctrl-C.
// This file is the order of the steps; the apps start through lib's launcher (lib/src/runtime/launcher.ts), the
// SQL the run executes is in ../run/run-sql.ts and the closing report in ../run/run-report.ts.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { uploadToken } from '@fleetcap/lib/auth/agent-credential';
import type { RunLabels } from '@fleetcap/lib/features/labels';
import { type LaunchedApp, launchApp } from '@fleetcap/lib/runtime/launcher';
import type { Command } from 'commander';
import ora from 'ora';
import {
  LAB_FILTER,
  LAB_SCENARIOS,
  type LabScenario,
  labDriver,
  parseScenarios,
  SCENARIO_TOOLS,
  SENSOR_INTERFACE,
} from '../lab/drive.ts';
import { appBuild, consoleEnv, consoleUrl, type LocalApp, localApps, probeApp, stackCaFile } from '../local-apps.ts';
import { demoPorts, demoTraffic } from '../run/demo-traffic.ts';
import { consoleLines, printRunReport } from '../run/run-report.ts';
import { agentConfigStatus, countVerdicts, enrollAgent, labVerdicts, registerAgentWithSql } from '../run/run-sql.ts';
import { uploadFile } from './upload.ts';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const stackHome = process.env.FLEETCAP_STACK_HOME ?? join(repoRoot, '.stack');
const appLogs = join(stackHome, 'logs', 'apps');

export const localAgentId = 'local-agent';
/** The agent the sample captures of ../shared/pcaps/slips are uploaded as. */
export const SAMPLE_AGENT = 'sample-upload';
/** Seeds 1-8 made the model's training and held-out runs; the demo's runs are new to it. */
export const DEFAULT_LAB_SEED = 101;
const appSpecs = new Map(localApps().map((a) => [a.name, a]));
const spec = (name: string): LocalApp => appSpecs.get(name)!;
const splitcapPort = spec('splitcap').port;
const forecastPort = spec('forecast').port;
const APP_READY_TIMEOUT_MS = 60_000;

async function step<T>(title: string, fn: () => Promise<T>): Promise<T> {
  // Without a terminal ora prints each step's start and end as plain lines.
  const spinner = ora({ text: title, isEnabled: process.stderr.isTTY === true }).start();
  const started = Date.now();
  try {
    const result = await fn();
    spinner.succeed(`${title} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    return result;
  } catch (err) {
    spinner.fail(`${title}: ${(err as Error).message}`);
    throw err;
  }
}

/** Starts one app of local-apps.ts on its port, its output into its log file; waits for its ready signal if told. */
async function startApp(
  apps: LaunchedApp[],
  app: LocalApp,
  env: Record<string, string>,
  waitForReady: boolean,
): Promise<void> {
  const launched = launchApp({
    name: app.name,
    app: app.app,
    build: appBuild,
    root: repoRoot,
    env: { ...env, [app.portVariable]: String(app.port) },
    logFile: join(appLogs, `${app.name}.log`),
  });
  apps.push(launched);
  if (waitForReady) await launched.ready(APP_READY_TIMEOUT_MS);
}

async function stopApps(apps: LaunchedApp[]): Promise<void> {
  // The agent first (it flushes its last batch to splitcap), the central apps after.
  for (const group of [
    ['listener'],
    ['config-sync'],
    ['session-worker-1', 'session-worker-2', 'splitcap', 'forecast', 'detector', 'console'],
  ]) {
    await Promise.all(apps.filter((a) => group.includes(a.name)).map((a) => a.stop()));
  }
}

async function waitForAgentApplied(timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no status yet';
  while (Date.now() < deadline) {
    const r = await agentConfigStatus(localAgentId);
    if (r?.config_error) throw new Error(`config-sync refused the agent's config: ${r.config_error}`);
    if (r && r.applied_revision === r.revision && r.state === 'capturing') return r.revision;
    last = r
      ? `state ${r.state ?? '-'}, applied revision ${r.applied_revision ?? '-'} of ${r.revision}${r.last_error ? `, error: ${r.last_error}` : ''}`
      : last;
    await sleep(250);
  }
  throw new Error(
    `the agent did not apply its config within ${timeoutMs / 1000} s (${last}); see ${appLogs}/listener.log`,
  );
}

export interface RunOptions {
  keep: boolean;
  /** lab: the traffic lab's scenarios through a mirror port; loopback: HTTP requests on lo (no root needed). */
  traffic: 'lab' | 'loopback';
  requests: number;
  seed: number;
  scenarios: LabScenario[];
}

export async function runSystem(o: RunOptions): Promise<void> {
  const apps: LaunchedApp[] = [];
  const lab = o.traffic === 'lab' ? labDriver(repoRoot, appLogs, join(stackHome, 'lab-runs')) : null;
  let labUp = false;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await step('stop the apps (the stack keeps running: npx fleetcap down stops it)', () => stopApps(apps));
    if (lab && labUp) await step('tear the traffic lab down', () => lab.tearDown()).catch(() => {});
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(130));
  process.on('SIGTERM', () => void stop(143));

  const agentSecretFile = join(stackHome, 'secrets', `${localAgentId}.secret`);
  // The sample captures go up as an agent of their own, enrolled like the host agent (no development token).
  const sampleSecretFile = join(stackHome, 'secrets', `${SAMPLE_AGENT}.secret`);
  let sampleToken = '';
  const common = { FLEETCAP_LOG_LEVEL: process.env.FLEETCAP_LOG_LEVEL ?? 'info' };
  try {
    mkdirSync(appLogs, { recursive: true });
    await step(
      'start the stack (Redis, RabbitMQ, MariaDB, ZooKeeper, Kafka, Kafka Connect + Debezium) and apply the schema',
      async () => {
        const child = spawn('bash', [join(repoRoot, 'stack', 'stack.sh'), 'up'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (out += d));
        const [code] = (await once(child, 'exit')) as [number];
        if (code !== 0) throw new Error(`stack up failed:\n${out}`);
      },
    );
    await step(
      `enroll the agent "${localAgentId}" in agent_credential (its secret: ${agentSecretFile}, mode 0600)`,
      () => enrollAgent(localAgentId, agentSecretFile),
    );
    await step(`enroll "${SAMPLE_AGENT}", the agent the sample captures are uploaded as`, async () => {
      sampleToken = uploadToken(await enrollAgent(SAMPLE_AGENT, sampleSecretFile));
    });
    await step('start forecast, splitcap, 2 session-workers, config-sync, the detector and the console', async () => {
      await Promise.all([
        startApp(apps, spec('forecast'), common, true),
        startApp(
          apps,
          spec('splitcap'),
          {
            ...common,
            // HTTPS with the certificate `stack up` made (the agent verifies it against the stack's CA).
            FLEETCAP_SPLITCAP_TLS_CERT: join(stackHome, 'tls', 'splitcap.crt'),
            FLEETCAP_SPLITCAP_TLS_KEY: join(stackHome, 'tls', 'splitcap.key'),
          },
          true,
        ),
        startApp(apps, spec('config-sync'), common, true),
        startApp(apps, spec('detector'), common, true),
        // `fleetcap up` may have started the console already: then that one serves.
        probeApp(spec('console')).then((h) =>
          h.state === 'healthy'
            ? undefined
            : startApp(apps, spec('console'), { ...common, ...consoleEnv(stackHome) }, true),
        ),
      ]);
      for (const n of [1, 2]) {
        await startApp(
          apps,
          spec(`session-worker-${n}`),
          {
            ...common,
            FLEETCAP_FORECAST_URL: `http://127.0.0.1:${forecastPort}`,
          },
          true,
        );
      }
    });
    if (lab) {
      await step(
        `build the traffic lab (namespaces fcl-*, its servers; installs its tools the first time) and the mirror port ${SENSOR_INTERFACE}`,
        async () => {
          labUp = true;
          await lab.setUp();
        },
      );
    }
    await step(`start the host agent "${localAgentId}" (listener + sniffer)`, async () => {
      await startApp(
        apps,
        spec('listener'),
        {
          ...common,
          FLEETCAP_AGENT_ID: localAgentId,
          FLEETCAP_AGENT_SECRET_FILE: agentSecretFile,
          FLEETCAP_SPLITCAP_CA_FILE: stackCaFile,
        },
        false,
      );
    });
    const [device, filter] = lab ? [SENSOR_INTERFACE, LAB_FILTER] : ['lo', `tcp port ${demoPorts.http}`];
    await step('register the agent: INSERT INTO sniffer_config with the mariadb client', async () =>
      registerAgentWithSql({
        agentId: localAgentId,
        device,
        filter,
        splitcapUrl: `https://127.0.0.1:${splitcapPort}`,
      }),
    );
    const revision = await step('config travels binlog -> Debezium -> Kafka -> config-sync -> ZooKeeper -> agent', () =>
      waitForAgentApplied(60_000),
    );
    console.log(`     agent ${localAgentId} captures on ${device} ("${filter}") with revision ${revision}`);
    const before = await countVerdicts([localAgentId, SAMPLE_AGENT]);
    const trafficStart = new Date(Date.now() - 2000);
    const labRuns: RunLabels[] = [];
    if (lab) {
      for (const [i, sc] of o.scenarios.entries()) {
        const run = await step(
          `lab scenario ${i + 1}/${o.scenarios.length}: ${sc} (${SCENARIO_TOOLS[sc]}), seed ${o.seed}`,
          () => lab.runScenario(sc, o.seed),
        );
        labRuns.push(run);
      }
    } else {
      await step(`make ${o.requests} HTTP requests on loopback for the agent to capture`, () =>
        demoTraffic(o.requests),
      );
    }
    const samples = join(repoRoot, '..', 'shared', 'pcaps', 'slips');
    if (existsSync(samples)) {
      await step('upload the sample captures in ../shared/pcaps/slips', async () => {
        for (const f of readdirSync(samples).filter((n) => /\.pcap(ng)?$/.test(n))) {
          await uploadFile(join(samples, f), {
            url: `https://127.0.0.1:${splitcapPort}`,
            ca: readFileSync(stackCaFile),
            agent: SAMPLE_AGENT,
            token: sampleToken,
            batchPackets: 5000,
            progress: false,
          });
        }
      });
    } else {
      console.log('     ../shared/pcaps/slips is absent: no sample captures to upload');
    }
    await step(
      'wait for the verdicts (each session is classified 5 s after its first packet, or when it closes)',
      async () => {
        let last = -1;
        let stableSince = Date.now();
        const deadline = Date.now() + 120_000;
        while (Date.now() < deadline) {
          const n = await countVerdicts([localAgentId, SAMPLE_AGENT]);
          if (n !== last) stableSince = Date.now();
          last = n;
          // Done when new rows have stopped arriving for longer than the session delay and a batch.
          if (n > before && Date.now() - stableSince > 8000) return;
          await sleep(500);
        }
        if (last <= before) throw new Error(`no verdict row arrived within 120 s; see the logs in ${appLogs}`);
      },
    );
    await printRunReport(
      lab && {
        runs: labRuns,
        verdicts: await labVerdicts(localAgentId, trafficStart),
        runsDir: lab.runsDir,
        seed: o.seed,
      },
    );
    for (const line of consoleLines(consoleUrl(spec('console')))) console.log(line);
    if (o.keep) {
      console.log(
        `\nfleetcap keeps running. Logs: ${appLogs}/*.log. Try: npx fleetcap report | agents | status${lab ? `; more lab traffic: FCL_RUNS_DIR=${lab.runsDir} bash lab/run.sh portscan 7` : ''}. Ctrl-C stops the apps${lab ? ' and the lab' : ''}.`,
      );
      await new Promise(() => {});
    }
    await stop(0);
  } catch (err) {
    console.error(`\nfleetcap run: ${(err as Error).message}`);
    await stop(1);
  }
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('run the whole system on local defaults: stack, apps, one agent, lab traffic, verdicts, report')
    .option('--keep', 'keep everything running after the report, until Ctrl-C', false)
    .option(
      '--traffic <kind>',
      "lab: the traffic lab's scenarios past the agent (root); loopback: HTTP requests on lo",
      'lab',
    )
    .option(
      '--scenarios <list>',
      `lab scenarios to run, comma-separated (${LAB_SCENARIOS.join(',')})`,
      LAB_SCENARIOS.join(','),
    )
    .option(
      '--seed <n>',
      "the lab runs' seed (their addresses, ports, TTLs and tool options)",
      String(DEFAULT_LAB_SEED),
    )
    .option('--requests <n>', 'with --traffic loopback: HTTP requests of demo traffic', '60')
    .action(async (opts: { keep: boolean; traffic: string; scenarios: string; seed: string; requests: string }) => {
      if (opts.traffic !== 'lab' && opts.traffic !== 'loopback') {
        console.error(`fleetcap run: --traffic ${opts.traffic}: choose lab or loopback`);
        process.exit(2);
      }
      const seed = Number(opts.seed);
      const requests = Number(opts.requests);
      if (!Number.isInteger(seed) || seed < 0) {
        console.error(`fleetcap run: --seed ${opts.seed}: must be a whole number >= 0`);
        process.exit(2);
      }
      if (!Number.isInteger(requests) || requests < 1) {
        console.error(`fleetcap run: --requests ${opts.requests}: must be a whole number >= 1`);
        process.exit(2);
      }
      let scenarios: LabScenario[];
      try {
        scenarios = parseScenarios(opts.scenarios);
      } catch (err) {
        console.error(`fleetcap run: --scenarios: ${(err as Error).message}`);
        process.exit(2);
      }
      await runSystem({ keep: opts.keep, traffic: opts.traffic, requests, seed, scenarios });
    });
}
