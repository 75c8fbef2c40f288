// The console's settings from the environment, validated at startup. HTTPS only (its cookies are Secure: a sign-in
// over plain HTTP would hand the session to anyone on the path), with a session secret read from a 0600 file.
import { type Env, parseEnv } from '@fleetcap/lib/config/connections';
import { durationSeconds, listenHost, listenPort, redisPrefix } from '@fleetcap/lib/config/env-schema';
import { z } from 'zod';

/** A path the console cannot start without: the message says what it is and where it comes from. */
const required = (what: string) => z.string({ required_error: `required: ${what}` }).min(1, `required: ${what}`);

const consoleEnv = z.object({
  FLEETCAP_CONSOLE_HOST: listenHost.default('127.0.0.1'),
  FLEETCAP_CONSOLE_PORT: listenPort(8443),
  /** PEM certificate and key (bash stack/stack.sh up makes .stack/tls/console.{crt,key}, signed by the stack's CA). */
  FLEETCAP_CONSOLE_TLS_CERT: required('a PEM certificate (stack up makes .stack/tls/console.crt)'),
  FLEETCAP_CONSOLE_TLS_KEY: required('its PEM key (stack up makes .stack/tls/console.key)'),
  /** Signs the session cookie: at least 32 characters, first line of the file (stack up makes .stack/secrets/console-session.secret). */
  FLEETCAP_CONSOLE_SESSION_SECRET_FILE: required(
    'a file holding the session secret (stack up makes .stack/secrets/console-session.secret)',
  ),
  /** A signed-in session ends after this long without a request. */
  FLEETCAP_CONSOLE_SESSION_IDLE_SECONDS: durationSeconds(60, 7 * 86_400).default(8 * 3600),
  /** Alerts and detections per page. */
  FLEETCAP_CONSOLE_PAGE_ROWS: z.coerce.number().int().min(10).max(1000).default(50),
  /** The default time range of the alerts page, back from now. */
  FLEETCAP_CONSOLE_DEFAULT_RANGE_HOURS: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 366)
    .default(24),
  FLEETCAP_REDIS_PREFIX: redisPrefix,
});

export type ConsoleConfig = z.infer<typeof consoleEnv>;

export function loadConsoleConfig(env: Env = process.env): ConsoleConfig {
  return parseEnv(consoleEnv, env, 'console');
}
