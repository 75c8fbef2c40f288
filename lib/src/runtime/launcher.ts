// Starting one of the project's apps as a child process, the way `fleetcap run` and the integration tests both do:
// fork the app's entry (its sources through tsx, or its compiled build on plain node: entry.ts) with an IPC channel,
// collect what it prints (and append it to its log file, if given), wait for its ready signal (ready.ts), stop it
// with SIGTERM and a deadline.
import { type ChildProcess, fork } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execArgvFor } from './entry.ts';
import { isReadySignal } from './ready.ts';

/**
 * Which build of an app starts: its sources (src/main.ts, through tsx, as development and the tests run), or its
 * compiled build (dist/main.js from `npm run build`, on plain node, as the image runs).
 */
export type AppBuild = 'sources' | 'compiled';

/** The entry module of apps/<app> in the given build. */
export function appEntry(root: string, app: string, build: AppBuild = 'sources'): string {
  return join(root, 'apps', app, build === 'sources' ? 'src/main.ts' : 'dist/main.js');
}

/** How long stop() waits after SIGTERM before it sends SIGKILL, unless told otherwise. */
export const STOP_DEADLINE_MS = 15_000;

/** Collected output is cut to its last this many characters, so that a long run does not grow without bound. */
const OUTPUT_KEPT = 4 * 1024 * 1024;

export interface AppLaunch {
  /** The name in messages (e.g. session-worker-1). */
  name: string;
  /** The folder under apps/ whose entry is started. */
  app: string;
  /** Sources (default) or the compiled build. */
  build?: AppBuild;
  /** The repository: where apps/ is, and the app's working directory. */
  root: string;
  /** Added to (or overriding) this process's environment. */
  env: Record<string, string>;
  /** Also append the app's output to this file (its directory is created). */
  logFile?: string;
}

export interface LaunchedApp {
  readonly name: string;
  readonly child: ChildProcess;
  /** What the app printed so far, stdout and stderr interleaved (its last few MiB). */
  output(): string;
  /**
   * Resolves with the port that answers the app's /healthz (null: it serves no HTTP) once the app signals ready;
   * rejects when it exits first or is not ready within timeoutMs.
   */
  ready(timeoutMs: number): Promise<number | null>;
  /** SIGTERM, then SIGKILL after deadlineMs; resolves with the exit code (null when a signal ended it). */
  stop(deadlineMs?: number): Promise<number | null>;
}

/** The port an IPC message says the app is ready on (null: no port), or undefined when it is no ready signal. */
export function readyPort(message: unknown): number | null | undefined {
  return isReadySignal(message) ? message.port : undefined;
}

export function launchApp(launch: AppLaunch): LaunchedApp {
  const { name, logFile } = launch;
  const entry = appEntry(launch.root, launch.app, launch.build);
  const child = fork(entry, [], {
    cwd: launch.root,
    env: { ...process.env, ...launch.env },
    execArgv: execArgvFor(entry),
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk;
    if (output.length > 2 * OUTPUT_KEPT) output = output.slice(-OUTPUT_KEPT);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  if (logFile !== undefined) {
    mkdirSync(dirname(logFile), { recursive: true });
    const log = createWriteStream(logFile, { flags: 'a' });
    // Two sources write into one file: it ends when both have, at the child's close.
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    child.once('close', () => log.end());
  }
  // Where to look when it fails: its log file, or else what it printed.
  const evidence = () => (logFile !== undefined ? `; see ${logFile}` : `:\n${output}`);

  let onReady: (port: number | null) => void = () => {};
  const signalled = new Promise<number | null>((resolve) => {
    onReady = resolve;
  });
  child.on('message', (message) => {
    const port = readyPort(message);
    if (port !== undefined) onReady(port);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );

  return {
    name,
    child,
    output: () => output,
    async ready(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${name} did not start within ${timeoutMs / 1000} s${evidence()}`)),
          timeoutMs,
        );
      });
      const died = exited.then(({ code, signal }): never => {
        throw new Error(`${name} exited with ${code ?? signal} before it was ready${evidence()}`);
      });
      try {
        return await Promise.race([signalled, late, died]);
      } finally {
        clearTimeout(timer);
      }
    },
    async stop(deadlineMs = STOP_DEADLINE_MS) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
      const { code } = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
