// The console as a background process of `fleetcap up` (stopped by `fleetcap down`): the servers and the console are
// what a person needs to look at what the pipeline stored, without `fleetcap run`. Its pid is in .stack/run/console.pid,
// its log in .stack/logs/apps/console.log.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execArgvFor } from '@fleetcap/lib/runtime/entry';
import { appEntry, consoleEnv, consoleUrl, localApps, probeApp } from './local-apps.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const stackHome = process.env.FLEETCAP_STACK_HOME ?? join(repoRoot, '.stack');
const pidFile = join(stackHome, 'run', 'console.pid');
const logFile = join(stackHome, 'logs', 'apps', 'console.log');

const spec = () => localApps().find((a) => a.name === 'console')!;

function runningPid(): number | null {
  if (!existsSync(pidFile)) return null;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 1) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

/** Starts the console unless one answers already; resolves with a line for the person. */
export async function startConsoleDaemon(timeoutMs = 30_000): Promise<string> {
  const app = spec();
  const url = consoleUrl(app);
  if ((await probeApp(app)).state === 'healthy') return `console: ${url} (already running)`;
  mkdirSync(join(stackHome, 'run'), { recursive: true });
  mkdirSync(join(stackHome, 'logs', 'apps'), { recursive: true });
  const entry = appEntry(app);
  const out = openSync(logFile, 'a');
  const child = spawn(process.execPath, [...execArgvFor(entry), entry], {
    cwd: repoRoot,
    env: { ...process.env, ...consoleEnv(stackHome), [app.portVariable]: String(app.port) },
    stdio: ['ignore', out, out],
    detached: true,
  });
  closeSync(out);
  child.unref();
  writeFileSync(pidFile, `${child.pid}\n`);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const h = await probeApp(app);
    if (h.state === 'healthy')
      return `console: ${url} (pid ${child.pid}; log ${logFile}; accounts: npx fleetcap console-user add <name> --role admin)`;
    last = h.detail;
    if (child.exitCode !== null) break;
    await sleep(500);
  }
  throw new Error(`the console did not become healthy within ${timeoutMs / 1000} s (${last}); see ${logFile}`);
}

/** Stops the console `fleetcap up` started (by its pid file), waiting for its graceful shutdown. */
export async function stopConsoleDaemon(timeoutMs = 15_000): Promise<string | null> {
  const pid = runningPid();
  if (pid === null) {
    rmSync(pidFile, { force: true });
    return null;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && runningPid() === pid) await sleep(200);
  if (runningPid() === pid) process.kill(pid, 'SIGKILL');
  rmSync(pidFile, { force: true });
  return `console (pid ${pid}) stopped`;
}
