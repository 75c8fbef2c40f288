// forecast throughput: sessions/s at batch 1 and batch 256, in-process (features + one ORT run per batch) and
// through HTTP (a real forecast process on one core: JSON, validation, features, model, JSON answer).
//
//   node --import tsx --conditions=fleetcap-source bench/forecast/run.ts [--runs 5] [--seconds 2] [--model model/model.onnx]
//
// Each cell is the median of --runs timed runs of --seconds each, after a warm-up. The HTTP client sends
// one request at a time per connection over keep-alive (plus a row with 4 connections for batch 1); bodies are
// serialized once up front so the client costs little. Sessions carry 24 packets each, like full sessions
// from splitcap. Target (issue 5): >= 20,000 sessions/s batched on one core.
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RequestValidator } from '@fleetcap/forecast/validate';
import { Classifier } from '@fleetcap/lib/classifier/model';
import type { FeaturePacket, FeatureSession } from '@fleetcap/lib/features/features';
import { execArgvFor } from '@fleetcap/lib/runtime/entry';
import { isReadySignal } from '@fleetcap/lib/runtime/ready';

const root = new URL('../../', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '2' },
    model: { type: 'string', default: join(root, 'model/model.onnx') },
  },
});
const RUNS = Number(values.runs);
const SECONDS = Number(values.seconds);
const MODEL = values.model!;

function session(i: number): FeatureSession {
  const t0 = 1_795_500_000_000_000 + i * 1_000;
  const packets: FeaturePacket[] = [
    { direction: 0, tsUs: t0, wireLength: 74, payloadLength: 0, tcpFlags: 0x02 },
    { direction: 1, tsUs: t0 + 50, wireLength: 74, payloadLength: 0, tcpFlags: 0x12 },
    { direction: 0, tsUs: t0 + 90, wireLength: 66, payloadLength: 0, tcpFlags: 0x10 },
  ];
  for (let k = 3; k < 24; k++) {
    const dir = k % 3 === 0 ? 0 : 1;
    const payload = dir === 0 ? 100 + ((i * 7 + k) % 300) : 1448;
    packets.push({
      direction: dir,
      tsUs: t0 + 100 * k + (i % 50),
      wireLength: 66 + payload,
      payloadLength: payload,
      tcpFlags: 0x18,
    });
  }
  return { proto: 'tcp', clientPort: 40000 + (i % 20000), serverPort: [80, 443, 22, 8080][i % 4]!, packets };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return Number.NaN;
  }
}

interface Measured {
  rate: number;
  /** Sessions per CPU-second of the measured process (when a pid is given). */
  perCpuSecond: number;
}

/** Sessions per second of `step` (which handles `batch` sessions) over SECONDS, median of RUNS. */
async function measure(
  batch: number,
  step: () => Promise<unknown>,
  concurrency = 1,
  pid = process.pid,
): Promise<Measured> {
  const warm = Date.now() + 300;
  while (Date.now() < warm) await step();
  const rates: number[] = [];
  const cpu0 = cpuSeconds(pid);
  let total = 0;
  for (let r = 0; r < RUNS; r++) {
    let done = 0;
    const t0 = performance.now();
    const end = t0 + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          await step();
          done += batch;
        }
      }),
    );
    rates.push(done / ((performance.now() - t0) / 1000));
    total += done;
  }
  return { rate: median(rates), perCpuSecond: total / (cpuSeconds(pid) - cpu0) };
}

async function startForecast(): Promise<{ child: ChildProcess; port: number }> {
  const entry = join(root, 'apps/forecast/src/main.ts');
  const child = fork(entry, [], {
    cwd: root,
    env: {
      ...process.env,
      FLEETCAP_FORECAST_PORT: '0',
      FLEETCAP_MODEL_PATH: MODEL,
      FLEETCAP_LOG_LEVEL: 'warn',
      FLEETCAP_FORECAST_THREADS: '1',
    },
    execArgv: execArgvFor(entry),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.on('message', (m: unknown) => isReadySignal(m) && m.port !== null && resolve(m.port));
    child.once('exit', (code) => reject(new Error(`forecast exited with ${code}`)));
  });
  return { child, port };
}

function poster(port: number, agent: Agent, body: Buffer): () => Promise<void> {
  return () =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/v1/forecast',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': body.length },
        },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
}

const sessions256 = Array.from({ length: 256 }, (_, i) => session(i));
const classifier = await Classifier.load({ modelPath: MODEL, threads: 1 });
const validator = new RequestValidator();
const body1 = Buffer.from(JSON.stringify({ sessions: [sessions256[0]] }));
const body256 = Buffer.from(JSON.stringify({ sessions: sessions256 }));
const text256 = body256.toString();

const rows: Array<[string, number, Measured]> = [];
let i = 0;
rows.push(['in-process: features + model', 1, await measure(1, () => classifier.classify([sessions256[i++ % 256]!]))]);
rows.push(['in-process: features + model', 256, await measure(256, () => classifier.classify(sessions256))]);
rows.push([
  'in-process: JSON.parse + validate + features + model',
  256,
  await measure(256, () => classifier.classify(validator.sessions(JSON.parse(text256)))),
]);

const server = await startForecast();
try {
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  rows.push(['HTTP, 1 connection', 1, await measure(1, poster(server.port, agent, body1), 1, server.child.pid)]);
  rows.push(['HTTP, 4 connections', 1, await measure(1, poster(server.port, agent, body1), 4, server.child.pid)]);
  rows.push(['HTTP, 1 connection', 256, await measure(256, poster(server.port, agent, body256), 1, server.child.pid)]);
  rows.push(['HTTP, 2 connections', 256, await measure(256, poster(server.port, agent, body256), 2, server.child.pid)]);
  agent.destroy();
} finally {
  server.child.kill('SIGTERM');
  await classifier.release();
}

const card = classifier.card;
console.log(
  `forecast benchmark: model ${card.modelVersion} (${(card as { algorithm?: { name?: string } }).algorithm?.name ?? '?'}), ` +
    `${RUNS} runs x ${SECONDS}s, median; ORT 1 thread, forecast is one process; ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'})`,
);
const w = Math.max(...rows.map((r) => r[0].length));
const n = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');
console.log(`${'path'.padEnd(w)}  ${'batch'.padStart(5)}  ${'sessions/s'.padStart(10)}  ${'per CPU-s'.padStart(10)}`);
for (const [name, batch, m] of rows) {
  console.log(
    `${name.padEnd(w)}  ${String(batch).padStart(5)}  ${n(m.rate).padStart(10)}  ${n(m.perCpuSecond).padStart(10)}`,
  );
}
console.log(
  '(per CPU-s: sessions per CPU-second used by the process serving them: the bench process in-process, forecast over HTTP)',
);
const http256 = rows.filter((r) => r[0].startsWith('HTTP') && r[1] === 256);
const best = Math.max(...http256.map((r) => r[2].rate));
const perCore = Math.max(...http256.map((r) => r[2].perCpuSecond));
console.log(
  `target >= 20,000 sessions/s batched on one core: ${best >= 20_000 && perCore >= 20_000 ? 'met' : 'NOT met'} ` +
    `(HTTP batch 256: ${n(best)} sessions/s, ${n(perCore)} per CPU-second of forecast)`,
);
process.exit(0);
