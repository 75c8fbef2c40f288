// Starting the project's own apps as real child processes for integration tests.
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { execArgvFor } from '@fleetcap/lib/runtime/entry';
import { isReadySignal } from '@fleetcap/lib/runtime/ready';
import { repoRoot } from './stack.ts';

export interface RunningApp {
  child: ChildProcess;
  port: number;
  output: () => string;
  stop: () => Promise<number | null>;
}

/**
 * Where an app starts: its sources (through tsx, as the tests run), or its compiled build (`npm run build`), which
 * runs on plain node.
 */
export type Build = 'sources' | 'compiled';

export function appEntry(name: string, build: Build = 'sources'): string {
  return join(repoRoot, 'apps', name, build === 'sources' ? 'src/main.ts' : 'dist/main.js');
}

/** The port of a ready signal, or of the {type:'listening', port} message apps sent before it. */
function readyPort(m: unknown): number | null {
  if (isReadySignal(m)) return m.port;
  const old = m as { type?: string; port?: number } | null;
  return old?.type === 'listening' && typeof old.port === 'number' ? old.port : null;
}

/** Forks the app (see Build) and waits for its ready signal, with the port it serves on. */
export async function startApp(
  name: string,
  env: Record<string, string>,
  timeoutMs = 15000,
  build: Build = 'sources',
): Promise<RunningApp> {
  let output = '';
  const entry = appEntry(name, build);
  const child = fork(entry, [], {
    cwd: repoRoot,
    env: { ...process.env, FLEETCAP_LOG_LEVEL: 'warn', ...env },
    execArgv: execArgvFor(entry),
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} did not start within ${timeoutMs} ms:\n${output}`)),
      timeoutMs,
    );
    child.on('message', (m: unknown) => {
      const port = readyPort(m);
      if (port) {
        clearTimeout(timer);
        resolve(port);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening:\n${output}`));
    });
  });
  return {
    child,
    port,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
}
