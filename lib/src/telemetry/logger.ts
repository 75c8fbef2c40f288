// One pino logger factory for every app: JSON lines on stdout (or another destination), level from
// FLEETCAP_LOG_LEVEL, the app name and pid in every line.
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export interface LoggerOptions {
  /** Overrides FLEETCAP_LOG_LEVEL (default info). */
  level?: string;
  /** Fields added to every line. */
  base?: Record<string, unknown>;
  /** Where lines go; default stdout (synchronously, so that a crash does not lose the last lines). */
  destination?: DestinationStream;
  env?: Record<string, string | undefined>;
}

export function createLogger(app: string, options: LoggerOptions = {}): Logger {
  const env = options.env ?? process.env;
  const requested = options.level ?? env.FLEETCAP_LOG_LEVEL ?? 'info';
  const level = LEVELS.has(requested) ? requested : 'info';
  const logger = pino(
    {
      level,
      base: { app, pid: process.pid, ...options.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
  if (level !== requested) logger.warn({ requested }, 'FLEETCAP_LOG_LEVEL is not a pino level; using info');
  return logger;
}
