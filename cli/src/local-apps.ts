// The apps `fleetcap run` starts on this machine and where each serves /healthz and /metrics, so that
// `fleetcap status` can ask them and Prometheus could scrape them. Every port can be moved with the app's own
// environment variable; these are the local defaults.
import { fileURLToPath } from 'node:url';
import { describeChecks, isHealthReport } from '@fleetcap/lib/runtime/health';
import { type AppBuild, appEntry as entryOf } from '@fleetcap/lib/runtime/launcher';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
/** This module is TypeScript when the CLI runs from its sources (through tsx), JavaScript when compiled. */
const fromSources = import.meta.url.endsWith('.ts');

export interface LocalApp {
  /** The name in logs (.stack/logs/apps/<name>.log) and in `fleetcap status`. */
  name: string;
  /** The folder under apps/. */
  app: string;
  /** The variable that sets the app's HTTP port (health and metrics), and its local default. */
  portVariable: string;
  /** The variable an operator sets to move it (the same, except for the two workers of one app). */
  setBy: string;
  port: number;
}

function portFromEnv(variable: string, fallback: number): number {
  const raw = process.env[variable];
  if (raw === undefined || raw.trim() === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`${variable}=${JSON.stringify(raw)}: must be a port number 1-65535`);
  }
  return port;
}

export function localApps(): LocalApp[] {
  const app = (name: string, dir: string, portVariable: string, fallback: number, own?: string): LocalApp => ({
    name,
    app: dir,
    portVariable,
    setBy: own ?? portVariable,
    port: portFromEnv(own ?? portVariable, fallback),
  });
  return [
    app('forecast', 'forecast', 'FLEETCAP_FORECAST_PORT', 8090),
    app('splitcap', 'splitcap', 'FLEETCAP_SPLITCAP_PORT', 8080),
    app('config-sync', 'config-sync', 'FLEETCAP_CONFIG_SYNC_PORT', 8086),
    // Two workers of one app: each needs its own port, set through FLEETCAP_WORKER_PORT when started.
    app('session-worker-1', 'session-worker', 'FLEETCAP_WORKER_PORT', 8091, 'FLEETCAP_WORKER_1_PORT'),
    app('session-worker-2', 'session-worker', 'FLEETCAP_WORKER_PORT', 8092, 'FLEETCAP_WORKER_2_PORT'),
    app('detector', 'detector', 'FLEETCAP_DETECTOR_PORT', 8093),
    app('listener', 'listener', 'FLEETCAP_LISTENER_METRICS_PORT', 8095),
  ];
}

/** The apps start built the way this CLI is: their sources beside the CLI's sources, else their dist/. */
export const appBuild: AppBuild = fromSources ? 'sources' : 'compiled';

/** The app's entry module in that build. */
export function appEntry(a: LocalApp): string {
  return entryOf(repoRoot, a.app, appBuild);
}

export interface AppHealth {
  name: string;
  url: string;
  state: 'healthy' | 'unhealthy' | 'not running';
  detail: string;
}

/** What a /healthz body says, for people: its checks (`redis ok, rabbitmq down: …`), else the text itself. */
export function healthDetail(status: number, body: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  const said = isHealthReport(parsed) ? describeChecks(parsed.checks) : body.trim();
  return status >= 200 && status < 300 ? said.slice(0, 200) : `HTTP ${status}: ${said.slice(0, 300)}`;
}

/** Asks one app's /healthz; never throws: an app that does not answer is "not running", with the reason. */
export async function probeApp(a: LocalApp, timeoutMs = 2000): Promise<AppHealth> {
  const url = `http://127.0.0.1:${a.port}/healthz`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return {
      name: a.name,
      url,
      state: res.ok ? 'healthy' : 'unhealthy',
      detail: healthDetail(res.status, await res.text()),
    };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    const why =
      cause === 'ECONNREFUSED'
        ? `nothing listens on port ${a.port} (${a.setBy}): start it with npx fleetcap run --keep`
        : cause === 'TimeoutError'
          ? `no answer within ${timeoutMs} ms: the app is stuck or overloaded; see .stack/logs/apps/${a.name}.log`
          : `${(err as Error).message} (${cause})`;
    return { name: a.name, url, state: 'not running', detail: why };
  }
}
