// The apps `fleetcap run` starts on this machine and where each serves /healthz and /metrics, so that
// `fleetcap status` can ask them and Prometheus could scrape them. Every port can be moved with the app's own
// environment variable; these are the local defaults.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeChecks, isHealthReport } from '@fleetcap/lib/runtime/health';
import { type AppBuild, appEntry as entryOf } from '@fleetcap/lib/runtime/launcher';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const stackHome = process.env.FLEETCAP_STACK_HOME ?? join(repoRoot, '.stack');
/** The CA of the stack (`stack up` makes it): splitcap's certificate is verified against it. */
export const stackCaFile = join(stackHome, 'tls', 'ca.crt');
/** The console's certificate and session secret, made by `stack up` beside splitcap's. */
export function consoleEnv(home: string = stackHome): Record<string, string> {
  return {
    FLEETCAP_CONSOLE_TLS_CERT: join(home, 'tls', 'console.crt'),
    FLEETCAP_CONSOLE_TLS_KEY: join(home, 'tls', 'console.key'),
    FLEETCAP_CONSOLE_SESSION_SECRET_FILE: join(home, 'secrets', 'console-session.secret'),
  };
}

/** Where a person opens the console. */
export function consoleUrl(a: LocalApp): string {
  return `https://127.0.0.1:${a.port}/`;
}

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
  /** https: the app serves HTTPS with the stack's certificate (splitcap, console). */
  scheme: 'http' | 'https';
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
    scheme: dir === 'splitcap' || dir === 'console' ? 'https' : 'http',
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
    app('console', 'console', 'FLEETCAP_CONSOLE_PORT', 8443),
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
/** GET over HTTPS trusting the stack's CA only (fetch cannot be given a CA). */
function httpsGet(url: string, timeoutMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    let ca: Buffer;
    try {
      ca = readFileSync(stackCaFile);
    } catch (err) {
      return reject(Object.assign(new Error(`no CA at ${stackCaFile}: run npx fleetcap up`), { cause: err }));
    }
    const req = request(url, { ca, timeout: timeoutMs }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { name: 'TimeoutError' })));
    req.on('error', (err: Error & { code?: string }) =>
      reject(Object.assign(err, { cause: { code: err.code ?? err.name } })),
    );
    req.end();
  });
}

export async function probeApp(a: LocalApp, timeoutMs = 2000): Promise<AppHealth> {
  const url = `${a.scheme}://127.0.0.1:${a.port}/healthz`;
  try {
    const res =
      a.scheme === 'https'
        ? await httpsGet(url, timeoutMs)
        : await fetch(url, { signal: AbortSignal.timeout(timeoutMs) }).then(async (r) => ({
            status: r.status,
            text: await r.text(),
          }));
    return {
      name: a.name,
      url,
      state: res.status >= 200 && res.status < 300 ? 'healthy' : 'unhealthy',
      detail: healthDetail(res.status, res.text),
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
