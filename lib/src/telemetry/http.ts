// A tiny HTTP server (node:http, no framework) for /metrics (Prometheus text) and /healthz (JSON from a health
// callback: 200 when ok, 503 otherwise). Port from an environment variable; 0 or unset disables it.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Health {
  ok: boolean;
  [detail: string]: unknown;
}

export interface TelemetryServerOptions {
  registry: Registry;
  health: () => Health | Promise<Health>;
  port: number;
  host?: string;
}

export interface TelemetryServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Reads a port from the environment: a missing or empty variable is `fallback`; a bad value throws. */
export function telemetryPortFromEnv(
  name: string,
  env: Record<string, string | undefined> = process.env,
  fallback = 0,
): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${name}=${JSON.stringify(raw)}: must be a port number 0-65535 (0 disables the server)`);
  }
  return port;
}

/**
 * Starts the server; resolves null when options.port is 0 (disabled). Pass port -1 to get an ephemeral port
 * (tests).
 */
export async function startTelemetryServer(options: TelemetryServerOptions): Promise<TelemetryServer | null> {
  if (options.port === 0) return null;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`),
      );
      return;
    }
    if (path === '/healthz') {
      Promise.resolve()
        .then(() => options.health())
        .then(
          (h) => res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(h)}\n`),
          (err: Error) =>
            res
              .writeHead(503, { 'content-type': 'application/json' })
              .end(`${JSON.stringify({ ok: false, error: err.message })}\n`),
        );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port === -1 ? 0 : options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
