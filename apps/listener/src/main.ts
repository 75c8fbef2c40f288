// The listener process: wiring only. Watches this agent's config in ZooKeeper, validates every change, runs the
// sniffer through the supervisor, and publishes the agent's live status.
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { LiveStatus } from '@fleetcap/lib/agent/live-status';
import { AgentPaths } from '@fleetcap/lib/agent/paths';
import { execArgvFor } from '@fleetcap/lib/runtime/entry';
import { check } from '@fleetcap/lib/runtime/health';
import { startHttpServer } from '@fleetcap/lib/runtime/http-server';
import { signalReady } from '@fleetcap/lib/runtime/ready';
import { onShutdown } from '@fleetcap/lib/runtime/shutdown';
import { loadEnvOrExit } from '@fleetcap/lib/runtime/startup';
import { createLogger } from '@fleetcap/lib/telemetry/logger';
import { ZkClient } from '@fleetcap/lib/zookeeper/client';
import { isZkError, ZkCode } from '@fleetcap/lib/zookeeper/errors';
import { type ConfigEvent, ConfigWatch } from './config-watch.ts';
import { LiveNode } from './live-node.ts';
import { createListenerMetrics } from './metrics.ts';
import { loadListenerOptions, snifferEnvironment } from './options.ts';
import { snifferEntry } from './sniffer-entry.ts';
import { Supervisor } from './supervisor.ts';
import { validateConfigText } from './validate.ts';

const log = createLogger('listener');
// Resolved like any import: the sniffer's sources when the listener runs from its sources (the fleetcap-source
// condition), its compiled build (its one-file bundle when the build made it) when the listener is compiled.
const snifferMain = snifferEntry(fileURLToPath(import.meta.resolve('@fleetcap/sniffer/main')));

async function main(): Promise<void> {
  const { options } = loadEnvOrExit(log, 'listener', { options: loadListenerOptions });
  const { agentId } = options;
  const alog = log.child({ agent: agentId });
  // The supervisor's stop is bounded by its own waits; the deadline only catches a stop that hangs past them.
  const shutdown = onShutdown({
    log: alog,
    doing: 'stopping the sniffer (its capture, then its uploads)',
    deadlineMs: options.captureStopMs + options.drainMs + 15_000,
  });

  const supervisor = new Supervisor({
    snifferMain,
    execArgv: execArgvFor(snifferMain),
    // The sniffer gets its upload token and nothing secret of the listener's (no secret, no server credential).
    env: {
      ...snifferEnvironment(process.env),
      FLEETCAP_DRAIN_MS: String(options.drainMs),
      FLEETCAP_AGENT_TOKEN: options.uploadToken,
    },
    captureStopMs: options.captureStopMs,
    exitWaitMs: options.drainMs + 5000,
    startTimeoutMs: options.startTimeoutMs,
    restartBaseMs: options.restartBaseMs,
    restartMaxMs: options.restartMaxMs,
    crashLoopCount: 3,
    crashWindowMs: 60_000,
    standby: options.standby,
    log: alog,
  });
  supervisor.warmUp();
  supervisor.waiting(`no ZooKeeper session yet (${options.connections.zookeeper}); waiting`);

  const paths = new AgentPaths(options.zkRoot);
  // With a secret, the session is this agent's ZooKeeper user: it may read its own config and write its own live
  // node (config-sync sets those ACLs); the live node it creates is its own, readable by anyone (it is status, as
  // agent_status is). Without one, the session is anonymous (development, open ACLs).
  const zkUser = options.zkCredentials?.slice(0, options.zkCredentials.indexOf(':'));
  const session = new ZkClient({
    connect: options.connections.zookeeper,
    sessionTimeoutMs: options.zkSessionTimeoutMs,
    ...(options.zkCredentials && options.zkAcl
      ? { auth: [{ scheme: 'digest', credentials: options.zkCredentials }], acl: options.zkAcl }
      : {}),
  });
  session.on('authenticationFailed', () =>
    alog.error(
      { code: 'listener.zk-auth-failed', user: zkUser },
      'ZooKeeper refused this agent’s credential: is the secret the one fleetcap agents add printed?',
    ),
  );
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
  // NO_AUTH: ZooKeeper says this agent may not (any more): counted, logged once a minute at most.
  let zkRefusals = 0;
  let refusalLoggedAt = 0;
  const refused = (what: string) => (err: unknown) => {
    zkRefusals++;
    if (Date.now() - refusalLoggedAt < 60_000) return;
    refusalLoggedAt = Date.now();
    alog.error(
      { code: 'listener.zk-no-auth', what, user: zkUser ?? 'anonymous', err: String(err) },
      `ZooKeeper refused to let this agent ${what}: its credential is revoked, or not the one enrolled (fleetcap agents list); capture goes on with the last good config`,
    );
  };
  const live = new LiveNode(session, paths.live(agentId), status, alog, refused('write its live node'));
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
    const v = await validateConfigText(ev.text, {
      agentId,
      tcpdump: options.tcpdump,
      uploadPlaintext: options.uploadPlaintext,
    });
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
  watch.on('readError', (err: unknown) => {
    if (isZkError(err, ZkCode.NO_AUTH)) refused('read its config')(err);
    else alog.warn({ err: String(err) }, 'reading the config failed; retrying');
  });

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
    zookeeperRefusals: () => zkRefusals,
  });
  const telemetry = await startHttpServer({
    registry,
    port: options.metricsPort,
    host: options.metricsHost,
    health: () => ({
      zookeeper: check(session.connected, 'no ZooKeeper session'),
      capture: check(supervisor.state !== 'error', supervisor.lastError ?? 'the sniffer failed'),
    }),
  });

  shutdown
    .add('config watch', async () => {
      clearTimeout(noZk);
      watch.stop();
      await events;
    })
    .add('sniffer', () => supervisor.shutdown())
    .add('live node', async () => {
      supervisor.lastError = `listener stopped (${await shutdown.requested})`;
      await Promise.race([live.publish(), new Promise((r) => setTimeout(r, 2000))]);
      live.stop();
      await Promise.race([live.remove(), new Promise((r) => setTimeout(r, 2000))]);
    })
    .add('ZooKeeper session', () => session.close())
    .add('HTTP server', () => telemetry?.close());
  signalReady(alog, 'listener', telemetry?.port ?? null, { agent: agentId });
}

main().catch((err: Error) => {
  log.fatal({ err }, 'listener failed');
  process.exit(1);
});
