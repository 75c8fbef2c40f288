// console: wiring only (config, connections, modules, runtime). The pages are in http.ts, what they read in queries.ts.
import { readFileSync } from 'node:fs';
import { readSecretFile } from '@fleetcap/lib/auth/agent-credential';
import { ConfigError, loadConnections } from '@fleetcap/lib/config/connections';
import { loadAccount } from '@fleetcap/lib/db/accounts';
import { check } from '@fleetcap/lib/runtime/health';
import { startHttpServer } from '@fleetcap/lib/runtime/http-server';
import { signalReady } from '@fleetcap/lib/runtime/ready';
import { onShutdown } from '@fleetcap/lib/runtime/shutdown';
import { loadEnvOrExit, refuseToStart } from '@fleetcap/lib/runtime/startup';
import { createLogger } from '@fleetcap/lib/telemetry/logger';
import mysql from 'mysql2/promise';
import { createClient } from 'redis';
import { loadConsoleConfig } from './config.ts';
import { databaseHealth } from './health.ts';
import { createConsoleApp } from './http.ts';
import { createConsoleMetrics } from './metrics.ts';

const log = createLogger('console');
const { config, connections, accounts } = loadEnvOrExit(log, 'console', {
  config: loadConsoleConfig,
  connections: (env) => loadConnections(env, 'console'),
  accounts: (env) => ({ report: loadAccount(env, 'report'), console: loadAccount(env, 'console') }),
});
let tls: { cert: Buffer; key: Buffer };
let sessionSecret: string;
try {
  tls = { cert: readFileSync(config.FLEETCAP_CONSOLE_TLS_CERT), key: readFileSync(config.FLEETCAP_CONSOLE_TLS_KEY) };
  sessionSecret = readSecretFile(config.FLEETCAP_CONSOLE_SESSION_SECRET_FILE, 'FLEETCAP_CONSOLE_SESSION_SECRET_FILE');
  if (sessionSecret.length < 32)
    throw new Error(
      `FLEETCAP_CONSOLE_SESSION_SECRET_FILE: the secret has ${sessionSecret.length} characters, at least 32 are needed (openssl rand -base64 33)`,
    );
} catch (err) {
  refuseToStart(log, 'console', new ConfigError((err as Error).message, []));
}
const shutdown = onShutdown({ log, doing: 'finishing the pages in flight', deadlineMs: 10_000 });

const pool = (account: { user: string; password: string }, connectionLimit: number) =>
  mysql.createPool({ ...connections.mysql, ...account, connectionLimit, timezone: 'Z', dateStrings: false });
const report = pool(accounts.report, 6);
const own = pool(accounts.console, 2);
let redisError = '';
const redis = createClient({ url: connections.redisUrl });
redis.on('error', (err: Error) => {
  if (redisError !== err.message)
    log.warn({ code: 'console.redis.error', err: err.message }, 'Redis connection problem: sign-ins wait for it');
  redisError = err.message;
});
redis.on('ready', () => {
  redisError = '';
});
await redis.connect().catch(() => undefined);

const metrics = createConsoleMetrics();
const api = createConsoleApp({
  report,
  own,
  redis,
  redisPrefix: config.FLEETCAP_REDIS_PREFIX,
  sessionSecret,
  idleSeconds: config.FLEETCAP_CONSOLE_SESSION_IDLE_SECONDS,
  pageRows: config.FLEETCAP_CONSOLE_PAGE_ROWS,
  defaultRangeHours: config.FLEETCAP_CONSOLE_DEFAULT_RANGE_HOURS,
  metrics,
  log,
});
const dbHealth = databaseHealth({ report, own }, log);
let lastTlsLog = 0;
const server = await startHttpServer({
  port: config.FLEETCAP_CONSOLE_PORT,
  host: config.FLEETCAP_CONSOLE_HOST,
  registry: metrics.registry,
  api,
  tls,
  onTlsRefused: (reason, err, remote) => {
    metrics.refused.inc({ reason: `tls-${reason}` });
    if (Date.now() - lastTlsLog < 10_000) return;
    lastTlsLog = Date.now();
    if (reason === 'plaintext')
      log.warn(
        { code: 'console.tls.plaintext', remote, err: err.message },
        'refused a plain HTTP request on the HTTPS port: open https:// (the stack CA signs the certificate)',
      );
    else
      log.warn(
        { code: 'console.tls.handshake', remote, err: err.message },
        'a TLS handshake failed (a browser that does not trust the stack CA, or no TLS at all)',
      );
  },
  health: async () => ({
    ...(await dbHealth()),
    redis: check(redis.isReady, redisError || 'not connected'),
    console: check(!shutdown.stopping, 'the console is shutting down'),
  }),
});
shutdown
  .add('pages in flight', () => server.close(5_000))
  .add('MariaDB', async () => {
    await Promise.all([report.end(), own.end()]);
  })
  .add('Redis', async () => {
    await redis.quit().catch(() => undefined);
  });
signalReady(log, 'console', server.port, {
  host: config.FLEETCAP_CONSOLE_HOST,
  url: `https://${config.FLEETCAP_CONSOLE_HOST.includes(':') ? `[${config.FLEETCAP_CONSOLE_HOST}]` : config.FLEETCAP_CONSOLE_HOST}:${server.port}/`,
});
