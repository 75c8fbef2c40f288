// The ready signal: the one way every app says "I serve now". A parent that forked the app with an IPC
// channel (the fleetcap launcher, the test helpers, the listener for its sniffers) gets it as a message;
// everyone else reads the same facts in the log line. `port` is the port that answers /healthz (null
// when the app serves no HTTP, e.g. a sniffer with its metrics server off).
import type { Logger } from 'pino';

export interface ReadySignal {
  type: 'ready';
  app: string;
  pid: number;
  port: number | null;
}

export function isReadySignal(message: unknown): message is ReadySignal {
  if (typeof message !== 'object' || message === null) return false;
  const m = message as Partial<ReadySignal>;
  return m.type === 'ready' && typeof m.app === 'string' && (m.port === null || typeof m.port === 'number');
}

/** Logs `ready` and tells the parent, if there is one listening on an IPC channel. */
export function signalReady(log: Logger, app: string, port: number | null, details: Record<string, unknown> = {}) {
  const signal: ReadySignal = { type: 'ready', app, pid: process.pid, port };
  log.info({ ...details, port }, 'ready');
  // A parent that already hung up must not turn the signal into an 'error' event.
  if (process.send !== undefined && process.connected) process.send(signal);
}
