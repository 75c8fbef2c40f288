// How every app refuses to start: one message (the app, every refused variable with the value given and what
// is allowed, what to do) on stderr for the person who started it and in the log, then exit 2. Exit 2 always means
// "a setting was refused at startup"; 1 means a failure after startup.
import type { Logger } from 'pino';
import { z } from 'zod';
import { ConfigError, type Env, loadAll, parseEnv } from '../config/connections.ts';
import { logLevel } from '../config/env-schema.ts';

/** Settings every app reads the same way (the logger reads FLEETCAP_LOG_LEVEL itself; this refuses a bad one). */
const runtimeEnv = z.object({ FLEETCAP_LOG_LEVEL: logLevel });

export const EXIT_REFUSED = 2;

/** The text a refused start prints: `<app>: refusing to start: <why>`. */
export function refusalMessage(app: string, err: Error): string {
  return `${app}: refusing to start: ${err.message}`;
}

/** Logs and prints why the app cannot start, then exits 2. */
export function refuseToStart(
  log: Logger,
  app: string,
  err: Error,
  exit: (code: number) => never = (code) => process.exit(code),
): never {
  // The values stay out of the structured field (secrets); `err` holds them as printed, secrets hidden.
  const problems =
    err instanceof ConfigError && err.issues.length > 0
      ? { problems: err.issues.map(({ variable, problem }) => ({ variable, problem })) }
      : {};
  log.fatal({ err: err.message, ...problems }, 'refusing to start');
  process.stderr.write(`${refusalMessage(app, err)}\n`);
  return exit(EXIT_REFUSED);
}

/**
 * Validates everything the app reads from the environment (its own settings, the connections, the accounts...)
 * and returns it; when anything is refused, every refused variable of every loader is reported at once and the
 * process exits 2. Errors other than ConfigError are bugs and are thrown.
 */
export function loadEnvOrExit<T extends object>(
  log: Logger,
  app: string,
  loaders: { [K in keyof T]: (env: Env) => T[K] },
  env: Env = process.env,
  exit?: (code: number) => never,
): T {
  try {
    return loadAll(
      app,
      { ...loaders, runtime: (e: Env) => parseEnv(runtimeEnv, e, app) } as { [K in keyof T]: (env: Env) => T[K] },
      env,
    );
  } catch (err) {
    if (err instanceof ConfigError) return refuseToStart(log, app, err, exit);
    throw err;
  }
}
