// The listener process: wiring only. Watches this agent's config in ZooKeeper, validates every change, runs the
// sniffer through the supervisor, and publishes the agent's live status.
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { LiveStatus } from '@fleetcap/lib/agent/live-status';
import { AgentPaths } from '@fleetcap/lib/agent/paths';
import { ConfigError } from '@fleetcap/lib/config/connections';
import { execArgvFor } from '@fleetcap/lib/runtime/entry';
import { startTelemetryServer } from '@fleetcap/lib/telemetry/http';
import { createLogger } from '@fleetcap/lib/telemetry/logger';
import { ZkClient } from '@fleetcap/lib/zookeeper/client';
import { type ConfigEvent, ConfigWatch } from './config-watch.ts';
import { LiveNode } from './live-node.ts';
import { createListenerMetrics } from './metrics.ts';
import { type ListenerOptions, loadListenerOptions } from './options.ts';
import { Supervisor } from './supervisor.ts';
import { validateConfigText } from './validate.ts';

const log = createLogger('listener');
// Resolved like any import: the sniffer's sources when the listener runs from its sources (the fleetcap-source
// condition), its compiled build when the listener is compiled.
const snifferMain = fileURLToPath(import.meta.resolve('@fleetcap/sniffer/main'));

async function main(): Promise<number> {
  let options: ListenerOptions;
  try {
    options = loadListenerOptions();
  } catch (err) {
    if (err instanceof ConfigError) {
      log.error(err.message);
      return 2;
    }
    throw err;
  }
  const { agentId } = options;
  const alog = log.child({ agent: agentId });

  const supervisor = new Supervisor({
    snifferMain,
    execArgv: execArgvFor(snifferMain),
    env: { ...process.env, FLEETCAP_DRAIN_MS: String(options.drainMs) },
    captureStopMs: options.captureStopMs,
    exitWaitMs: options.drainMs + 5000,
    startTimeoutMs: options.startTimeoutMs,
    restartBaseMs: options.restartBaseMs,
    restartMaxMs: options.restartMaxMs,
    crashLoopCount: 3,
    crashWindowMs: 60_000,
    log: alog,
  });
  supervisor.warmUp();
  supervisor.waiting(`no ZooKeeper session yet (${options.connections.zookeeper}); waiting`);

  const paths = new AgentPaths(options.zkRoot);
  const session = new ZkClient({
    connect: options.connections.zookeeper,
    sessionTimeoutMs: options.zkSessionTimeoutMs,
  });
  const watch = new ConfigWatch(session, paths.config(agentId));
  const status = (): LiveStatus => ({
    agentId,
    pid: process.pid,
    snifferPid: supervisor.snifferPid,
    hostname: hostname(),
    appliedRevision: supervisor.appliedRevision,
    state: supervisor.state,
    lastError: supervisor.lastError,
    counters: supervisor.counters(),
    updatedAt: new Date().toISOString(),
  });
  const live = new LiveNode(session, paths.live(agentId), status, alog);
  supervisor.on('change', () => void live.publish());

  // One config event at a time, in order; identical text (a re-read after a reconnect) is not applied twice.
  let lastText: string | null = null;
  let events: Promise<void> = Promise.resolve();
  const handle = async (ev: ConfigEvent): Promise<void> => {
    if (ev.kind === 'missing') {
      lastText = null;
      alog.warn({ path: watch.path }, 'no config node yet; waiting for one');
      supervisor.waiting(`no config at ${watch.path} yet; waiting`);
      return;
    }
    if (ev.kind === 'deleted') {
      lastText = null;
      alog.warn({ path: watch.path }, 'config node deleted; stopping capture');
      await supervisor.stopCapture(`config node ${watch.path} was deleted; capture stopped`);
      return;
    }
    if (ev.text === lastText) return;
    lastText = ev.text;
    const t0 = Date.now();
    const v = await validateConfigText(ev.text, { agentId, tcpdump: options.tcpdump });
    if (!v.ok) {
      alog.error(
        { revision: v.revision, ms: Date.now() - t0 },
        `config rejected, the running capture goes on: ${v.error}`,
      );
      supervisor.rejected(v.error);
      return;
    }
    alog.info({ revision: v.config.revision, validateMs: Date.now() - t0 }, 'config valid; applying');
    if (!v.config.enabled)
      await supervisor.stopCapture(`capture disabled by config revision ${v.config.revision}`, v.config.revision);
    else await supervisor.run(v.config);
  };
  watch.on('event', (ev: ConfigEvent) => {
    events = events
      .then(() => handle(ev))
      .catch((err: unknown) => alog.error({ err: String(err) }, 'config event failed'));
  });
  watch.on('readError', (err: unknown) => alog.warn({ err: String(err) }, 'reading the config failed; retrying'));

  let everConnected = false;
  session.on('connected', () => {
    alog.info(
      { zk: options.connections.zookeeper, session: session.sessionId() },
      everConnected ? 'ZooKeeper session back; re-reading config' : 'connected to ZooKeeper',
    );
    everConnected = true;
  });
  session.on('disconnected', () =>
    alog.warn(
      { revision: supervisor.appliedRevision },
      'ZooKeeper connection lost; capture goes on with the last good config',
    ),
  );
  session.on('expired', () => alog.warn('ZooKeeper session expired; opening a new one'));
  const noZk = setTimeout(() => {
    if (!everConnected) alog.warn({ zk: options.connections.zookeeper }, 'no ZooKeeper session yet; still trying');
  }, options.zkSessionTimeoutMs);
  session.connect();
  live.start(options.liveRefreshMs);

  const { registry } = createListenerMetrics({
    zookeeperConnected: () => session.connected,
    appliedRevision: () => supervisor.appliedRevision,
    capturing: () => supervisor.state === 'capturing',
    snifferRestarts: () => supervisor.restarts,
    counters: () => supervisor.counters(),
  });
  const telemetry = await startTelemetryServer({
    registry,
    port: options.metricsPort,
    host: options.metricsHost,
    health: () => ({ ok: supervisor.state !== 'error', zookeeper: session.connected, ...status() }),
  });

  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  alog.info({ signal }, 'stopping');
  clearTimeout(noZk);
  watch.stop();
  await events;
  await supervisor.shutdown();
  supervisor.lastError = `listener stopped (${signal})`;
  await Promise.race([live.publish(), new Promise((r) => setTimeout(r, 2000))]);
  live.stop();
  await Promise.race([live.remove(), new Promise((r) => setTimeout(r, 2000))]);
  await session.close();
  await telemetry?.close();
  alog.info('stopped');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    log.fatal({ err }, 'listener failed');
    process.exit(1);
  },
);
