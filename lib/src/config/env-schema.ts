// The pieces every app's environment schema is made of, defined once: the same kind of setting allows the same
// values, and is refused with the same words, in every app (parseEnv in ./connections.ts reports them).
import { z } from 'zod';

/** A whole number from min to max; `unit` (milliseconds, bytes, ...) only goes into the message. */
export function wholeNumber(min: number, max: number, unit = '') {
  const allowed = `must be a whole number${unit === '' ? '' : ` of ${unit}`} from ${min} to ${max}`;
  return z.coerce.number({ invalid_type_error: allowed }).int(allowed).min(min, allowed).max(max, allowed);
}

export const durationMs = (min: number, max: number) => wholeNumber(min, max, 'milliseconds');
export const durationSeconds = (min: number, max: number) => wholeNumber(min, max, 'seconds');

/** The port of a server this process connects to. */
export const serverPort = z.coerce
  .number({ invalid_type_error: 'must be a port number 1-65535' })
  .int('must be a port number 1-65535')
  .min(1, 'must be a port number 1-65535')
  .max(65535, 'must be a port number 1-65535');

/** A port a server listens on; `off` is only allowed for a telemetry server that is optional. */
export type PortSetting = number | 'off';

function portNumber(text: string): number | undefined {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  return port >= 0 && port <= 65535 ? port : undefined;
}

/** The port of a server this process serves (an API): N, or 0 for a free port the OS picks (the ready signal says which). */
export function listenPort(fallback: number) {
  return z
    .string()
    .default(String(fallback))
    .transform((text, ctx) => {
      const port = portNumber(text.trim());
      if (port !== undefined) return port;
      ctx.addIssue({ code: 'custom', message: 'must be a port number 0-65535 (0: a free port the OS picks)' });
      return z.NEVER;
    });
}

/** The port of an optional /metrics and /healthz server: N, 0 for a free port the OS picks, or `off`. */
export function telemetryPort(fallback: PortSetting) {
  return z
    .string()
    .default(String(fallback))
    .transform((text, ctx): PortSetting => {
      if (text.trim() === 'off') return 'off';
      const port = portNumber(text.trim());
      if (port !== undefined) return port;
      ctx.addIssue({ code: 'custom', message: 'must be a port number 0-65535 (0: a free port the OS picks) or off' });
      return z.NEVER;
    });
}

/** The address a server listens on: loopback here, 0.0.0.0 in a container that Prometheus scrapes. */
export const listenHost = z.string().min(1, 'must be an address to listen on, such as 127.0.0.1 or 0.0.0.0');

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const logLevel = z
  .enum(logLevels, { errorMap: () => ({ message: 'must be one of fatal, error, warn, info, debug, trace, silent' }) })
  .default('info');

/** The prefix of every Redis key (FLEETCAP_REDIS_PREFIX): splitcap and the workers must share it. */
export const redisPrefix = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,32}$/, 'must be 1-32 letters, digits, "_", "." or "-"')
  .default('fc');

/** The prefix of every queue name (FLEETCAP_QUEUE_PREFIX): lets several pipelines, or tests, share one broker. */
export const queuePrefix = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, "_", "." or "-"')
  .default('fleetcap');

/**
 * The Community ID v1 seed (FLEETCAP_COMMUNITY_ID_SEED, 0-65535, default 0 as in Zeek, Suricata and Arkime): every
 * tool whose Community IDs are compared must use the same one.
 */
export const communityIdSeed = wholeNumber(0, 65535).default(0);

/** A yes/no switch. */
export const flag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { errorMap: () => ({ message: 'must be true or false' }) })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
