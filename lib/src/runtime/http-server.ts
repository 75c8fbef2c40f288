// The one HTTP server of every app (node:http): /metrics (Prometheus text) and /healthz (`{ok, checks}`, 200 or
// 503) are answered here, the same way everywhere; an app with an API (splitcap, forecast) passes its express app
// as `api` for every other path. Port rule: N, 0 for a free port the OS picks (the returned `port` says which, and
// the app announces it in its ready signal), `off` for no server at all.
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { PortSetting } from '../config/env-schema.ts';
import { type HealthProbe, probeHealth } from './health.ts';

export interface HttpServerOptions {
  port: PortSetting;
  host: string;
  registry: Registry;
  health: HealthProbe;
  /** Everything but /metrics and /healthz; without it, other paths answer 404. */
  api?: RequestListener;
  /** Longer than a balancer's or client's idle timeout (forecast: 65 s), so that they close first. */
  keepAliveTimeoutMs?: number;
  /** PEM certificate (chain) and key: the server speaks HTTPS only. */
  tls?: { cert: Buffer; key: Buffer };
  /**
   * A connection that failed its TLS handshake (and was closed): `plaintext` when it sent an HTTP request to the
   * HTTPS port, `handshake` for any other TLS error (a client that does not trust the certificate, say).
   */
  onTlsRefused?: (reason: 'plaintext' | 'handshake', error: Error, remote: string | undefined) => void;
}

export interface HttpServer {
  readonly port: number;
  /**
   * Stops accepting connections, closes idle ones and waits for the requests in flight (each connection closes
   * once its answer is sent); after `forceAfterMs`, if given, the connections left are cut.
   */
  close(forceAfterMs?: number): Promise<void>;
}

export interface TelemetryResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The answer to a request for /metrics or /healthz, or null when the path is not one of them. */
export async function telemetryResponse(
  method: string,
  url: string,
  registry: Registry,
  health: HealthProbe,
): Promise<TelemetryResponse | null> {
  const path = url.split('?')[0];
  if (path !== '/metrics' && path !== '/healthz') return null;
  if (method !== 'GET' && method !== 'HEAD') {
    return { status: 405, headers: { allow: 'GET, HEAD', 'content-type': 'text/plain' }, body: 'method not allowed\n' };
  }
  if (path === '/metrics') {
    try {
      return { status: 200, headers: { 'content-type': registry.contentType }, body: await registry.metrics() };
    } catch (err) {
      return {
        status: 500,
        headers: { 'content-type': 'text/plain' },
        body: `metrics failed: ${(err as Error).message}\n`,
      };
    }
  }
  const report = await probeHealth(health);
  return {
    status: report.ok ? 200 : 503,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: `${JSON.stringify(report)}\n`,
  };
}

const notFound: RequestListener = (_req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
};

/** Resolves null when the port is `off`. */
export async function startHttpServer(options: HttpServerOptions & { port: number }): Promise<HttpServer>;
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer | null>;
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer | null> {
  const { port } = options;
  if (port === 'off') return null;
  const api = options.api ?? notFound;
  let closing = false;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    // A keep-alive connection would hold a closing server open until its idle timeout.
    res.once('finish', () => {
      if (closing) setImmediate(() => server.closeIdleConnections());
    });
    telemetryResponse(req.method ?? 'GET', req.url ?? '/', options.registry, options.health).then(
      (answer) => {
        if (answer === null) api(req, res);
        else res.writeHead(answer.status, answer.headers).end(req.method === 'HEAD' ? undefined : answer.body);
      },
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  };
  const server = options.tls
    ? createTlsServer({ ...options.tls, minVersion: 'TLSv1.2' }, handler)
    : createServer(handler);
  if (options.tls) {
    server.on('tlsClientError', (err: Error & { code?: string }, socket) => {
      const plaintext = err.code === 'ERR_SSL_HTTP_REQUEST' || /http request/i.test(err.message);
      options.onTlsRefused?.(plaintext ? 'plaintext' : 'handshake', err, socket.remoteAddress);
    });
  }
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: (forceAfterMs?: number) =>
      new Promise<void>((resolve) => {
        closing = true;
        server.close(() => resolve());
        server.closeIdleConnections();
        if (forceAfterMs === undefined) return;
        const force = setTimeout(() => server.closeAllConnections(), forceAfterMs);
        force.unref();
        server.once('close', () => clearTimeout(force));
      }),
  };
}
