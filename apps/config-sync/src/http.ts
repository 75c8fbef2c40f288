// /metrics and /healthz on a plain node:http server.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface Health {
  ok: boolean;
  checks: Record<string, string>;
}

export function createHttpServer(registry: Registry, health: () => Promise<Health>): Server {
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (url === '/metrics') {
      registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text))
        .catch((err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`));
      return;
    }
    if (url === '/healthz') {
      health()
        .then((h) =>
          res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(h)}\n`),
        )
        .catch((err: Error) =>
          res
            .writeHead(503, { 'content-type': 'application/json' })
            .end(`${JSON.stringify({ ok: false, error: err.message })}\n`),
        );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
  });
  server.keepAliveTimeout = 5000;
  return server;
}
