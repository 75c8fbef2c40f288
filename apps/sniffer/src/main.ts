// The sniffer process: wiring only. Forked by the listener, either with the validated config in
// FLEETCAP_AGENT_CONFIG, or in standby mode (FLEETCAP_SNIFFER_STANDBY=1: modules loaded, the config arrives in a
// 'start' IPC message, so that a config change does not wait for a Node start). Runs standalone too:
//   node --import tsx --conditions=fleetcap-source apps/sniffer/src/main.ts --config cfg.json
import { AgentConfigError } from '@fleetcap/lib/config/agent-config';
import { ConfigError } from '@fleetcap/lib/config/connections';
import { startTelemetryServer } from '@fleetcap/lib/telemetry/http';
import { createLogger } from '@fleetcap/lib/telemetry/logger';
import { createRegistry, Gauge } from '@fleetcap/lib/telemetry/metrics';
import { type ListenerMessage, type SnifferCounters, type SnifferMessage, STANDBY_ENV } from './ipc.ts';
import { loadSnifferOptions, type SnifferOptions } from './options.ts';
import { Sniffer } from './sniffer.ts';

const log = createLogger('sniffer');

function send(message: SnifferMessage): Promise<void> {
  const channel = process.send?.bind(process);
  if (channel === undefined || !process.connected) return Promise.resolve();
  return new Promise((resolve) => {
    channel(message, undefined, undefined, () => resolve());
  });
}

/** cutAtMs: keep packets captured before this time (default: when the stop was asked); linger: keep capturing. */
type Stop = { why: string; code: number; cutAtMs?: number; linger: boolean };

const listenerMessages: Array<(m: ListenerMessage) => void> = [];
process.on('message', (m: ListenerMessage) => {
  for (const fn of listenerMessages) fn(m);
});

/**
 * Resolves on SIGTERM, SIGINT, a 'cut' from the listener (a successor captures from atMs on) or the loss of the
 * parent (the listener is gone: do not capture unsupervised).
 */
const stopRequested = new Promise<Stop>((resolve) => {
  process.once('SIGTERM', () => resolve({ why: 'SIGTERM', code: 0, linger: true }));
  process.once('SIGINT', () => resolve({ why: 'SIGINT', code: 0, linger: true }));
  process.once('disconnect', () => resolve({ why: 'parent disconnected', code: 0, linger: false }));
  listenerMessages.push((m) => {
    if (m.type === 'cut') resolve({ why: 'handed over to the next sniffer', code: 0, cutAtMs: m.atMs, linger: true });
  });
});

/** Standby mode: wait for the config (or a stop). */
function waitForStart(): Promise<{ config: string; handOver: boolean } | null> {
  return new Promise((resolve) => {
    listenerMessages.push((m) => {
      if (m.type === 'start') resolve({ config: m.config, handOver: m.handOver });
    });
    void stopRequested.then(() => resolve(null));
  });
}

function loadOptions(configJson?: string): SnifferOptions | string {
  try {
    return loadSnifferOptions(process.argv.slice(2), process.env, configJson);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof AgentConfigError) return err.message;
    throw err;
  }
}

async function main(): Promise<number> {
  let configJson: string | undefined;
  let handOver = false;
  if (process.env[STANDBY_ENV] === '1') {
    await send({ type: 'standby' });
    const given = await waitForStart();
    if (given === null) return 0;
    configJson = given.config;
    handOver = given.handOver;
  }
  const options = loadOptions(configJson);
  if (typeof options === 'string') {
    log.error(options);
    await send({ type: 'error', message: options });
    return 2;
  }
  const config = options.config;
  if (!config.enabled) {
    log.info({ revision: config.revision }, 'capture is disabled in this config; nothing to do');
    return 0;
  }

  const sniffer = new Sniffer(options, log.child({ agent: config.agentId, revision: config.revision }));
  listenerMessages.push((m) => {
    if (m.type === 'rescan') sniffer.rescan();
  });
  const registry = createRegistry('sniffer');
  const counterHelp: Array<[keyof SnifferCounters, string]> = [
    ['captured', 'packets captured'],
    ['kernelDrops', 'packets dropped by the kernel (pcap stats)'],
    ['batchesUploaded', 'batches splitcap accepted'],
    ['spooled', 'batches waiting in the spool'],
    ['spoolDropped', 'batches dropped to keep the spool bounded'],
    ['rejected', 'batches splitcap refused for good'],
  ];
  for (const [key, help] of counterHelp) {
    new Gauge({
      name: `fleetcap_sniffer_${key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`,
      help,
      registers: [registry],
      collect() {
        this.set(sniffer.counters()[key]);
      },
    });
  }
  const telemetry = await startTelemetryServer({
    registry,
    port: options.metricsPort,
    health: () => ({ ok: !sniffer.capture.stopping, ...sniffer.counters() }),
  });
  const ticker = setInterval(
    () => void send({ type: 'counters', counters: sniffer.counters() }),
    options.statsIntervalMs,
  );

  const shutdown = async (stop: Stop): Promise<number> => {
    const cutAtMs = stop.cutAtMs ?? Date.now();
    sniffer.cutAt(cutAtMs);
    // libpcap hands packets over in blocks, at the latest after its 1 s timeout: capture on for a while so that
    // every packet captured before the cut-off reaches us.
    const lingerMs =
      stop.linger && !sniffer.capture.stopping ? Math.max(0, cutAtMs + options.lingerMs - Date.now()) : 0;
    log.info({ why: stop.why, cutAtMs, lingerMs }, 'stopping');
    if (lingerMs > 0) await new Promise((r) => setTimeout(r, lingerMs));
    const { drained } = await sniffer.stop(() => send({ type: 'capture-stopped', counters: sniffer.counters() }));
    clearInterval(ticker);
    await send({ type: 'stopped', counters: sniffer.counters(), drained });
    await telemetry?.close();
    return stop.code;
  };

  const started = await Promise.race([
    sniffer.start(handOver).then(
      () => null,
      (err: Error) => `capture did not start: ${err.message}`,
    ),
    stopRequested.then((s) => s),
  ]);
  if (typeof started === 'string') {
    log.error(started);
    await send({ type: 'error', message: started });
    await shutdown({ why: started, code: 1, linger: false });
    return 1;
  }
  if (started !== null) return shutdown(started);
  await send({
    type: 'capturing',
    revision: config.revision,
    filter: sniffer.filter,
    sinceMs: sniffer.capturingSinceMs,
  });

  const died = sniffer.capture.died().then(async (why): Promise<Stop> => {
    if (why !== '') {
      log.error({ why }, 'capture ended unexpectedly');
      await send({ type: 'error', message: `capture ended: ${why}` });
    }
    return { why: `capture ended: ${why}`, code: 1, linger: false };
  });
  return shutdown(await Promise.race([stopRequested, died]));
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    log.fatal({ err }, 'sniffer failed');
    process.exit(1);
  },
);
