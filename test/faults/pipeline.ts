// The pipeline a fault run or a soak drives: forecast, splitcap (on a fixed port, so that a restarted one is found
// where the agents look) and two session-workers under their own Redis and queue prefixes, and config-sync (its own
// consumer group: sniffer_config through Kafka into ZooKeeper), on the stack's servers; and the agents: the sniffer's real Spool and Uploader, fed by a TrafficSource, every batch in a ledger.
import type { Agent as HttpsAgent } from 'node:https';
import { createServer } from 'node:net';
import { UPLOAD_HEADERS } from '@fleetcap/lib/upload/batch-upload';
import { httpPost } from '@fleetcap/sniffer/http-post';
import { Spool, type SpoolEntry } from '@fleetcap/sniffer/spool';
import { Uploader } from '@fleetcap/sniffer/uploader';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { TrafficSource } from './traffic.ts';

// Short enough that a run's end is reached soon after its traffic.
export const DELAY_MS = 1000;
export const DONE_TTL_S = 3;
export const IDLE_S = 6;
export const SWEEP_MS = 1000;

export interface LedgerBatch {
  agent: string;
  perSession: Map<string, number>;
  packets: number;
  state: 'spooled' | 'accepted' | 'spool-dropped' | 'rejected';
  attempted: boolean;
  /** When the first upload attempt started: the batch was stored between this and acceptedAt. */
  firstTryAt?: number;
  acceptedAt?: number;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export interface Pipeline {
  splitcapPort: number;
  forecastPort: number;
  workerPorts: number[];
  readonly workers: RunningApp[];
  /** config-sync's Kafka consumer group (removed at the end). */
  configSyncGroup: string;
  /** The app processes by name (their pids change when they are restarted). */
  apps(): Array<[string, RunningApp]>;
  /** What each app wrote, the instances killed before the current one included (FLEETCAP_FAULTS_LOG_DIR). */
  outputs(): Array<[string, string]>;
  killSplitcap(): Promise<void>;
  killWorker(i: number): Promise<void>;
  /**
   * Freezes config-sync (SIGSTOP) for longer than its ZooKeeper session timeout and its Kafka group session, then
   * lets it go on: ZooKeeper has expired its session and the group has moved on without it meanwhile.
   */
  pauseConfigSync(ms: number): Promise<void>;
  /** The apps whose /healthz is not ok. */
  unhealthy(): Promise<string[]>;
  stop(): Promise<void>;
}

/** config-sync's ZooKeeper session (lib/src/zookeeper/client.ts) is 15 s; its Kafka group session is set here. */
export const CONFIG_SYNC_KAFKA_SESSION_MS = 10_000;

export async function startPipeline(
  prefix: string,
  agentIds: string[],
  token: string,
  options: { configSync?: boolean } = {},
): Promise<Pipeline> {
  const splitcapPort = await freePort();
  const forecastPort = await freePort();
  const workerPorts = [await freePort(), await freePort()];
  const common = {
    FLEETCAP_REDIS_PREFIX: prefix,
    FLEETCAP_QUEUE_PREFIX: prefix,
    FLEETCAP_LOG_LEVEL: process.env.FLEETCAP_FAULTS_APP_LOG_LEVEL ?? 'error',
  };
  const splitcapEnv = {
    ...common,
    FLEETCAP_SPLITCAP_PORT: String(splitcapPort),
    FLEETCAP_SPLITCAP_CREDENTIALS: 'tokens',
    FLEETCAP_SPLITCAP_TOKENS: agentIds.map((a) => `${a}=${token}`).join(','),
    FLEETCAP_SESSION_DELAY_MS: String(DELAY_MS),
  };
  const workerEnv = (i: number) => ({
    ...common,
    FLEETCAP_FORECAST_URL: `http://127.0.0.1:${forecastPort}`,
    FLEETCAP_DONE_TTL_SECONDS: String(DONE_TTL_S),
    FLEETCAP_WORKER_PORT: String(workerPorts[i]),
    FLEETCAP_WORKER_BATCH_MS: '20',
    FLEETCAP_RECORD_SWEEP_MS: String(SWEEP_MS),
    FLEETCAP_TCP_INACTIVITY_TIMEOUT_S: String(IDLE_S),
    FLEETCAP_UDP_INACTIVITY_TIMEOUT_S: String(IDLE_S),
  });
  const startSplitcap = () => startApp('splitcap', splitcapEnv, 60_000);
  const startWorker = (i: number) => startApp('session-worker', workerEnv(i), 60_000);
  const forecast = await startApp('forecast', { FLEETCAP_FORECAST_PORT: String(forecastPort) }, 60_000);
  let splitcap = await startSplitcap();
  const workers = [await startWorker(0), await startWorker(1)];
  const configSyncGroup = `${prefix}-config-sync`;
  const configSync = !(options.configSync ?? true)
    ? undefined
    : await startApp(
        'config-sync',
        {
          FLEETCAP_CONFIG_SYNC_PORT: '0',
          FLEETCAP_CONFIG_SYNC_GROUP: configSyncGroup,
          FLEETCAP_CONFIG_SYNC_SESSION_TIMEOUT_MS: String(CONFIG_SYNC_KAFKA_SESSION_MS),
          // Its retries of a change event are warnings: FLEETCAP_FAULTS_APP_LOG_LEVEL=warn shows why one is stuck.
          FLEETCAP_LOG_LEVEL: process.env.FLEETCAP_FAULTS_APP_LOG_LEVEL ?? 'error',
        },
        90_000,
      );
  // The output of the instances killed so far, by app name.
  const earlier = new Map<string, string>();
  const keepOutput = (name: string, app: RunningApp) => earlier.set(name, (earlier.get(name) ?? '') + app.output());
  const apps = (): Array<[string, RunningApp]> => [
    ['splitcap', splitcap],
    ['forecast', forecast],
    ...workers.map((w, i): [string, RunningApp] => [`session-worker-${i + 1}`, w]),
    ...(configSync ? [['config-sync', configSync] as [string, RunningApp]] : []),
  ];
  return {
    splitcapPort,
    forecastPort,
    workerPorts,
    workers,
    configSyncGroup,
    apps,
    outputs: () => apps().map(([name, app]) => [name, (earlier.get(name) ?? '') + app.output()]),
    async killSplitcap() {
      splitcap.child.kill('SIGKILL');
      await splitcap.stop();
      keepOutput('splitcap', splitcap);
      splitcap = await startSplitcap();
    },
    async killWorker(i) {
      workers[i]!.child.kill('SIGKILL');
      await workers[i]!.stop();
      keepOutput(`session-worker-${i + 1}`, workers[i]!);
      workers[i] = await startWorker(i);
    },
    async pauseConfigSync(ms) {
      if (!configSync) throw new Error('this pipeline runs no config-sync');
      configSync.child.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, ms));
      configSync.child.kill('SIGCONT');
    },
    async unhealthy() {
      const bad: string[] = [];
      for (const [name, app] of apps()) {
        const ok = await fetch(`http://127.0.0.1:${app.port}/healthz`, { signal: AbortSignal.timeout(3000) }).then(
          async (r) => r.ok && ((await r.json()) as { ok: boolean }).ok,
          () => false,
        );
        if (!ok) bad.push(name);
      }
      return bad;
    },
    async stop() {
      await Promise.all(apps().map(([, a]) => a.stop()));
    },
  };
}

export class Agent {
  readonly spool: Spool;
  uploader: Uploader | undefined;
  readonly source: TrafficSource;
  cutOff = false;
  private current: LedgerBatch | undefined;

  constructor(
    readonly id: string,
    index: number,
    seed: number,
    readonly dir: string,
    private readonly ledger: Map<string, LedgerBatch>,
    private readonly url: () => string,
    private readonly token: string,
    /** For an https:// URL (the cluster run, test/cluster/cluster-run.ts): an agent trusting the stack's CA. */
    private readonly tlsAgent?: HttpsAgent,
  ) {
    this.source = new TrafficSource(seed, index + 1);
    this.spool = new Spool({
      dir,
      maxBytes: 4 * 1024 * 1024,
      onDrop: (entry: SpoolEntry) => {
        const b = this.ledger.get(entry.id) ?? this.current;
        if (!b) return;
        if (!this.ledger.has(entry.id)) this.ledger.set(entry.id, b);
        b.state = 'spool-dropped';
      },
    });
  }

  startUploads(): void {
    this.uploader = new Uploader(this.spool, {
      url: this.url(),
      agentId: this.id,
      token: this.token,
      concurrency: 2,
      backoff: { baseMs: 100, maxMs: 2000 },
      maxWaitMs: 2000,
      requestTimeoutMs: 20_000,
      ...(this.tlsAgent ? { tlsAgent: this.tlsAgent } : {}),
      // The real POST, timed: a batch is stored somewhere between its first attempt and its 202.
      post: (url, headers, body, ...rest) => {
        const b = this.ledger.get(headers[UPLOAD_HEADERS.batch] ?? '');
        if (b && b.firstTryAt === undefined) b.firstTryAt = Date.now();
        return httpPost(url, headers, body, ...rest);
      },
      onEvent: (ev) => {
        const b = this.ledger.get(ev.entry.id);
        if (!b) return;
        if (ev.kind === 'uploaded') {
          b.state = 'accepted';
          b.acceptedAt = Date.now();
        } else if (ev.kind === 'rejected') b.state = 'rejected';
        else if (ev.kind === 'retry') b.attempted = true;
      },
    });
    this.uploader.start();
  }

  async stopUploads(): Promise<void> {
    const u = this.uploader;
    this.uploader = undefined;
    await u?.stop(0);
  }

  /** One batch of new and continuing sessions into the spool (the sniffer's batcher → spool step). */
  produce(newSessions: number): void {
    const g = this.source.next(newSessions);
    if (g.packets === 0) return;
    const batch: LedgerBatch = {
      agent: this.id,
      perSession: g.perSession,
      packets: g.packets,
      state: 'spooled',
      attempted: false,
    };
    this.current = batch;
    const entry = this.spool.add(g.file, g.packets);
    this.current = undefined;
    if (entry) this.ledger.set(entry.id, batch);
    else if (![...this.ledger.values()].includes(batch)) this.ledger.set(`dropped-${this.ledger.size}`, batch);
  }
}
