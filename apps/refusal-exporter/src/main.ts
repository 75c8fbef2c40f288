// refusal-exporter: wiring only (config, followed logs, recorder, runtime). The logic is in the modules beside it.
import { check } from '@fleetcap/lib/runtime/health';
import { startHttpServer } from '@fleetcap/lib/runtime/http-server';
import { signalReady } from '@fleetcap/lib/runtime/ready';
import { onShutdown } from '@fleetcap/lib/runtime/shutdown';
import { loadEnvOrExit } from '@fleetcap/lib/runtime/startup';
import { createLogger } from '@fleetcap/lib/telemetry/logger';
import { loadRefusalExporterConfig } from './config.ts';
import { type FollowedLog, LogSources } from './log-sources.ts';
import { createMetrics } from './metrics.ts';
import { RefusalRecorder } from './refusal-recorder.ts';
import { lineHandler } from './refusal-sources.ts';

const log = createLogger('refusal-exporter');
const { config } = loadEnvOrExit(log, 'refusal-exporter', { config: loadRefusalExporterConfig });
const shutdown = onShutdown({ log, doing: 'reading the logs to their end', deadlineMs: 10_000 });

const metrics = createMetrics();
const recorder = new RefusalRecorder(metrics, log, { maxUsers: config.maxUsers, logPerMinute: config.logPerMinute });
const logs: FollowedLog[] = [];
if (config.zookeeperLog)
  logs.push({
    server: 'zookeeper',
    path: config.zookeeperLog,
    onLine: lineHandler('zookeeper', metrics, log, (r) => recorder.record(r)),
  });
if (config.mariadbLog)
  logs.push({
    server: 'mariadb',
    path: config.mariadbLog,
    onLine: lineHandler('mariadb', metrics, log, (r) => recorder.record(r)),
  });
const sources = new LogSources(logs, metrics, log);
await sources.start(config.pollMs);

const server = await startHttpServer({
  port: config.port,
  host: config.host,
  registry: metrics.registry,
  health: () =>
    Object.fromEntries(
      Object.entries(sources.checks()).map(([name, ok]) => [name, check(ok, 'the log file is missing or unreadable')]),
    ),
});
shutdown.add('http server', () => server.close(2_000)).add('logs', () => sources.stop());
signalReady(log, 'refusal-exporter', server.port, { logs: sources.paths() });
