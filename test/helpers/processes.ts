// Starting the project's own apps as real child processes for integration tests, with the launcher `fleetcap run`
// uses (lib/src/runtime/launcher.ts): their sources through tsx, or their compiled build on plain node.
import type { ChildProcess } from 'node:child_process';
import { type AppBuild, appEntry as entryOf, launchApp } from '@fleetcap/lib/runtime/launcher';
import { repoRoot } from './stack.ts';

export type Build = AppBuild;

export interface RunningApp {
  child: ChildProcess;
  port: number;
  output: () => string;
  stop: () => Promise<number | null>;
}

/** The entry module of apps/<name> in this repository. */
export function appEntry(name: string, build: Build = 'sources'): string {
  return entryOf(repoRoot, name, build);
}

/** Starts apps/<name> (see Build) and waits for its ready signal, which must name the port it serves. The default wait
 * is 30 s: a tsx start of splitcap took over 15 s at load 40-60, which failed tests that had nothing wrong. */
export async function startApp(
  name: string,
  env: Record<string, string>,
  timeoutMs = 30000,
  build: Build = 'sources',
): Promise<RunningApp> {
  // config-sync has ZooKeeper ACLs on by default; the tests of other behaviour run their agents unenrolled, so they
  // get open ACLs unless they ask (config-sync still authenticates with the stack's password: test/security).
  const acl: Record<string, string> =
    name === 'config-sync' &&
    env.FLEETCAP_ZK_ACL === undefined &&
    env.FLEETCAP_ZK_CONFIGSYNC_PASSWORD_FILE === undefined
      ? { FLEETCAP_ZK_ACL: 'open' }
      : {};
  const app = launchApp({
    name,
    app: name,
    build,
    root: repoRoot,
    env: { FLEETCAP_LOG_LEVEL: 'warn', ...acl, ...env },
  });
  let port: number | null;
  try {
    port = await app.ready(timeoutMs);
  } catch (err) {
    await app.stop();
    throw err;
  }
  if (port === null) {
    await app.stop();
    throw new Error(
      `${name} is ready but serves no HTTP port; the tests reach every app on its port:\n${app.output()}`,
    );
  }
  return { child: app.child, port, output: app.output, stop: () => app.stop() };
}
