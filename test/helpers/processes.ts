// Starting the project's own apps as real child processes for integration tests.
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { isReadySignal } from '../../lib/src/runtime/ready.ts';
import { repoRoot } from './stack.ts';

export interface RunningApp {
  child: ChildProcess;
  port: number;
  output: () => string;
  stop: () => Promise<number | null>;
}

/** Forks apps/<name>/src/main.ts and waits for its ready signal (lib/src/runtime/ready.ts), which names its port. */
export async function startApp(name: string, env: Record<string, string>, timeoutMs = 15000): Promise<RunningApp> {
  let output = '';
  const child = fork(`${repoRoot}/apps/${name}/src/main.ts`, [], {
    cwd: repoRoot,
    env: { ...process.env, FLEETCAP_LOG_LEVEL: 'warn', ...env },
    execArgv: ['--import', 'tsx'],
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
      if (!isReadySignal(m)) return;
      clearTimeout(timer);
      if (m.port === null) reject(new Error(`${name} is ready but serves no HTTP (its port is off)`));
      else resolve(m.port);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before it was ready:\n${output}`));
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
