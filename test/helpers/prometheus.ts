// A real Prometheus (Debian's, the binary beside promtool) scraping the apps of the local run, for tests that
// check the dashboard's queries against live data. Its data live in a temporary folder, removed on stop.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

export interface QueryResult {
  status: string;
  error?: string;
  data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

export interface RunningPrometheus {
  url: string;
  query(expr: string): Promise<QueryResult>;
  /** Waits until `targets` targets are up, then for `scrapes` more scrape intervals. */
  waitForScrapes(targets: number, scrapes: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** `caFiles`: jobs scraped over HTTPS, with the CA their certificates are verified against. */
export async function startPrometheus(
  jobs: Record<string, string[]>,
  scrapeIntervalS = 1,
  caFiles: Record<string, string> = {},
): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetcap-prometheus-'));
  const config = [
    'global:',
    `  scrape_interval: ${scrapeIntervalS}s`,
    `  scrape_timeout: ${scrapeIntervalS}s`,
    'scrape_configs:',
    ...Object.entries(jobs).flatMap(([job, targets]) => [
      `  - job_name: ${job}`,
      ...(caFiles[job]
        ? ['    scheme: https', '    tls_config:', `      ca_file: ${JSON.stringify(caFiles[job])}`]
        : []),
      '    static_configs:',
      `      - targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}]`,
    ]),
  ].join('\n');
  writeFileSync(join(dir, 'prometheus.yml'), `${config}\n`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let log = '';
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (d) => (log = (log + d).slice(-4000)));
  child.stderr?.on('data', (d) => (log = (log + d).slice(-4000)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${log}`);
    try {
      if ((await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) })).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus was not ready within 30 s:\n${log}`);
    }
    await sleep(200);
  }
  const query = async (expr: string): Promise<QueryResult> => {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    return (await res.json()) as QueryResult;
  };
  return {
    url,
    query,
    async waitForScrapes(targets, scrapes, timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      let last = '';
      while (Date.now() < until) {
        const up = await query('up');
        const result = up.data?.result ?? [];
        last = JSON.stringify(result.map((x) => [x.metric.job, x.metric.instance, x.value[1]]));
        if (result.length >= targets && result.every((x) => x.value[1] === '1')) {
          // rate() wants two samples in its window; a few more scrapes give every target those.
          await sleep(scrapes * scrapeIntervalS * 1000);
          return;
        }
        await sleep(500);
      }
      throw new Error(`not every target was up within ${timeoutMs} ms; up: ${last}\n${log}`);
    },
    stop,
  };
}
