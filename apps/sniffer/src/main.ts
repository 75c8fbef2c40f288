// The sniffer process: wiring only. Forked by the listener, either with the validated config in
// FLEETCAP_AGENT_CONFIG, or in standby mode (FLEETCAP_SNIFFER_STANDBY=1: modules loaded, the config arrives in a
// 'start' IPC message, so that a config change does not wait for a Node start). Runs standalone too:
//   node --import tsx --conditions=fleetcap-source apps/sniffer/src/main.ts --config cfg.json
import {
  type ListenerMessage,
  parseListenerMessage,
  type SnifferCounters,
  type SnifferMessage,
  STANDBY_ENV,
} from '@fleetcap/lib/agent/ipc';
import { AgentConfigError } from '@fleetcap/lib/config/agent-config';
import { ConfigError } from '@fleetcap/lib/config/connections';
import { check } from '@fleetcap/lib/runtime/health';
import { startHttpServer } from '@fleetcap/lib/runtime/http-server';
import { signalReady } from '@fleetcap/lib/runtime/ready';
import { onShutdown } from '@fleetcap/lib/runtime/shutdown';
import { refuseToStart } from '@fleetcap/lib/runtime/startup';
import { createLogger } from '@fleetcap/lib/telemetry/logger';
import { createRegistry, Gauge } from '@fleetcap/lib/telemetry/metrics';
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

const listenerMessages: Array<(m: ListenerMessage) => void> = [];
process.on('message', (raw: unknown) => {
  const m = parseListenerMessage(raw);
  if (m === null) {
    log.warn({ message: raw }, 'ignored a message from the listener that is none of ours');
    return;
  }
  for (const fn of listenerMessages) fn(m);
});

let options: SnifferOptions | undefined;
/**
 * How the capture ends once a stop is asked: keep the packets captured before cutAtMs (default: the moment of the
 * stop), and capture on for the linger time first, so that libpcap hands over its last block (not when the parent
 * is gone or the capture itself ended).
 */
const ending: { cutAtMs?: number; linger: boolean } = { linger: true };
// SIGTERM and SIGINT (the listener's stop), a 'cut' (a successor captures from atMs on) or the loss of the parent
// (the listener is gone: do not capture unsupervised). The listener bounds the stop too (it kills a sniffer that
// overstays); this deadline only catches one left alone.
const shutdown = onShutdown({
  log,
  doing: 'ending the capture, then finishing the uploads in flight',
  deadlineMs: () => (options?.lingerMs ?? 0) + (options?.drainMs ?? 0) + 10_000,
});
process.once('disconnect', () => {
  ending.linger = false;
  void shutdown.stop('parent disconnected');
});
listenerMessages.push((m) => {
  if (m.type !== 'cut') return;
  ending.cutAtMs = m.atMs;
  void shutdown.stop('handed over to the next sniffer');
});

/** Standby mode: wait for the config (or a stop). */
function waitForStart(): Promise<{ config: string; handOver: boolean } | null> {
  return new Promise((resolve) => {
    listenerMessages.push((m) => {
      if (m.type === 'start') resolve({ config: m.config, handOver: m.handOver });
    });
    void shutdown.requested.then(() => resolve(null));
  });
}

async function main(): Promise<void> {
  let configJson: string | undefined;
  let handOver = false;
  if (process.env[STANDBY_ENV] === '1') {
    await send({ type: 'standby' });
    const given = await waitForStart();
    if (given === null) return; // stopped before any config: nothing to close
    configJson = given.config;
    handOver = given.handOver;
  }
  try {
    options = loadSnifferOptions(process.argv.slice(2), process.env, configJson);
  } catch (err) {
    if (!(err instanceof ConfigError || err instanceof AgentConfigError)) throw err;
    await send({ type: 'error', message: err.message });
    return refuseToStart(log, 'sniffer', err);
  }
  const o = options;
  const config = o.config;
  if (!config.enabled) {
    log.info({ revision: config.revision }, 'capture is disabled in this config; nothing to do');
    return shutdown.stop('capture is disabled in this config');
  }

  const sniffer = new Sniffer(o, log.child({ agent: config.agentId, revision: config.revision }));
  listenerMessages.push((m) => {
    if (m.type === 'rescan') sniffer.rescan();
  });
  // Any exit that still runs code (process.exit, an uncaught error) writes the batches held only in memory.
  process.once('exit', () => sniffer.spool.persistAll());
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
  new Gauge({
    name: 'fleetcap_sniffer_upload_untrusted_certificates',
    help: "upload attempts refused because splitcap's certificate is not signed by the CA the agent trusts",
    registers: [registry],
    collect() {
      this.set(sniffer.uploader.counters.untrustedCertificates);
    },
  });
  const telemetry = await startHttpServer({
    registry,
    port: o.metricsPort,
    host: '127.0.0.1',
    health: () => ({ capture: check(!sniffer.capture.stopping, 'the capture has ended') }),
  });
  const ticker = setInterval(() => void send({ type: 'counters', counters: sniffer.counters() }), o.statsIntervalMs);

  shutdown
    .add('capture', async () => {
      const cutAtMs = ending.cutAtMs ?? Date.now();
      sniffer.cutAt(cutAtMs);
      // libpcap hands packets over in blocks, at the latest after its 1 s timeout: capture on for a while so that
      // every packet captured before the cut-off reaches us.
      const lingerMs = ending.linger && !sniffer.capture.stopping ? Math.max(0, cutAtMs + o.lingerMs - Date.now()) : 0;
      log.info({ cutAtMs, lingerMs }, 'keeping the packets captured before the cut-off');
      if (lingerMs > 0) await new Promise((r) => setTimeout(r, lingerMs));
      const { drained } = await sniffer.stop(() => send({ type: 'capture-stopped', counters: sniffer.counters() }));
      clearInterval(ticker);
      await send({ type: 'stopped', counters: sniffer.counters(), drained });
    })
    .add('HTTP server', () => telemetry?.close());

  const failed = await Promise.race([
    sniffer.start(handOver).then(
      () => null,
      (err: Error) => `capture did not start: ${err.message}`,
    ),
    shutdown.requested.then(() => 'stopping' as const),
  ]);
  if (failed === 'stopping') return;
  if (failed !== null) {
    log.error({ code: 'sniffer.capture-did-not-start' }, failed);
    await send({ type: 'error', message: failed });
    ending.linger = false;
    return shutdown.stop(failed, 1);
  }
  await send({
    type: 'capturing',
    revision: config.revision,
    filter: sniffer.filter,
    sinceMs: sniffer.capturingSinceMs,
  });
  signalReady(log, 'sniffer', telemetry?.port ?? null, { revision: config.revision });

  void sniffer.capture.died().then(async (why) => {
    if (why !== '') {
      log.error({ why }, 'capture ended unexpectedly');
      await send({ type: 'error', message: `capture ended: ${why}` });
    }
    ending.linger = false;
    return shutdown.stop(`capture ended: ${why}`, 1);
  });
}

main().catch((err: Error) => {
  log.fatal({ err }, 'sniffer failed');
  process.exit(1);
});
