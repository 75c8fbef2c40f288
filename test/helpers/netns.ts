// Network namespaces for the agent tests: two namespaces joined by a veth pair with a /30 from 10.250.0.0/16, so
// that test traffic only ever flows between ends the test created. Everything is removed by destroy().
// Also: running a command inside a namespace, and socat relays over unix sockets (namespaces do not isolate the
// file system) so that a process inside a namespace reaches a server of the root namespace on its own loopback.
import { type ChildProcess, execFileSync, type SpawnOptions, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SOURCE_EXEC_ARGV } from '@fleetcap/lib/runtime/entry';
import { connections } from './stack.ts';

export interface VethPair {
  /** Namespace names (fca-<hex>-a / -b). */
  nsA: string;
  nsB: string;
  /** Interface names, one in each namespace. */
  devA: string;
  devB: string;
  addrA: string;
  addrB: string;
  /** A private temporary folder for sockets and spool. */
  dir: string;
  children: ChildProcess[];
  /** The next source port no numbered datagram stream of this pair has used (see DatagramNumbering). */
  nextSourcePort: number;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

export function createVethPair(): VethPair {
  const tag = randomBytes(3).toString('hex');
  const x = randomBytes(1)[0]!;
  const y = (randomBytes(1)[0]! & 0xfc) % 252;
  const pair: VethPair = {
    nsA: `fca-${tag}-a`,
    nsB: `fca-${tag}-b`,
    devA: `fca${tag}a`,
    devB: `fca${tag}b`,
    addrA: `10.250.${x}.${y + 1}`,
    addrB: `10.250.${x}.${y + 2}`,
    dir: mkdtempSync(join(tmpdir(), `fca-${tag}-`)),
    children: [],
    nextSourcePort: 20_000,
  };
  try {
    ip('netns', 'add', pair.nsA);
    ip('netns', 'add', pair.nsB);
    ip('link', 'add', pair.devA, 'netns', pair.nsA, 'type', 'veth', 'peer', 'name', pair.devB, 'netns', pair.nsB);
    for (const [ns, dev, addr] of [
      [pair.nsA, pair.devA, pair.addrA],
      [pair.nsB, pair.devB, pair.addrB],
    ] as const) {
      ip('-n', ns, 'addr', 'add', `${addr}/30`, 'dev', dev);
      ip('-n', ns, 'link', 'set', dev, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
  } catch (err) {
    destroy(pair);
    throw err;
  }
  return pair;
}

/** Kills what the test started in the namespaces, deletes both namespaces (and with them the veth pair). */
export function destroy(pair: VethPair): void {
  for (const c of pair.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const ns of [pair.nsA, pair.nsB]) {
    // Any process still inside (a grandchild) is killed first, or the namespace lingers.
    try {
      const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split(/\s+/).filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {}
      }
    } catch {}
    try {
      ip('netns', 'del', ns);
    } catch {}
  }
  rmSync(pair.dir, { recursive: true, force: true });
}

/** Spawns `cmd args` inside a namespace (ip netns exec); the child is killed by destroy(). */
export function nsSpawn(
  pair: VethPair,
  ns: string,
  cmd: string,
  args: string[],
  options: SpawnOptions = {},
): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], options);
  pair.children.push(child);
  return child;
}

export function nsExec(ns: string, cmd: string, args: string[], input?: string): string {
  return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', input, stdio: 'pipe' });
}

function waitForLine(child: ChildProcess, re: RegExp, ms: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`${what}: not ready in ${ms} ms: ${text}`)), ms);
    const on = (chunk: Buffer) => {
      text += chunk.toString();
      if (re.test(text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stderr?.on('data', on);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what}: exited with ${code}: ${text}`));
    });
  });
}

/**
 * TCP listener at bindHost:port inside `ns` that forwards every connection to a unix socket (e.g. a test HTTP
 * server in the root namespace). socat -d -d logs "listening on" once bound.
 */
export async function tcpToUnixRelay(pair: VethPair, ns: string, bindHost: string, port: number, socketPath: string) {
  const child = nsSpawn(
    pair,
    ns,
    'socat',
    ['-d', '-d', `TCP-LISTEN:${port},bind=${bindHost},reuseaddr,fork`, `UNIX-CONNECT:${socketPath}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  await waitForLine(child, /listening on/, 5000, `relay ${ns} ${bindHost}:${port}`);
  return child;
}

/** A unix socket in the root namespace that forwards to a TCP server of the root namespace (e.g. ZooKeeper). */
export async function unixToTcpRelay(pair: VethPair, socketPath: string, host: string, port: number) {
  const child = spawn('socat', ['-d', '-d', `UNIX-LISTEN:${socketPath},fork,unlink-early`, `TCP:${host}:${port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  pair.children.push(child);
  await waitForLine(child, /listening on/, 5000, `relay ${socketPath} -> ${host}:${port}`);
  return child;
}

/** The relays of relayZooKeeper: the unix socket between them, and the one inside the namespace. */
export interface ZooKeeperRelay {
  socketPath: string;
  /** Killing it cuts the namespace off ZooKeeper; tcpToUnixRelay(pair, ns, '127.0.0.1', 2181, socketPath) again. */
  inNamespace: ChildProcess;
}

/** The stack's ZooKeeper (its first server) at 127.0.0.1:2181 inside `ns`, through a unix socket of the pair's folder. */
export async function relayZooKeeper(pair: VethPair, ns: string): Promise<ZooKeeperRelay> {
  const socketPath = join(pair.dir, 'zk.sock');
  const [zkHost, zkPort] = connections.zookeeper.split(',')[0]!.split(':');
  await unixToTcpRelay(pair, socketPath, zkHost!, Number(zkPort ?? 2181));
  const inNamespace = await tcpToUnixRelay(pair, ns, '127.0.0.1', 2181, socketPath);
  return { socketPath, inNamespace };
}

/**
 * Test datagrams carry their index where splitcap keeps it, so that a test can name every datagram splitcap
 * stored (splitcap stores a packet's times and sizes, not its payload): datagram i of a stream leaves from source
 * port firstSourcePort + floor(i / DATAGRAMS_PER_SOURCE_PORT), with a payload of PAYLOAD_BASE_BYTES +
 * i % DATAGRAMS_PER_SOURCE_PORT bytes (`${tag}-...-${i}` padded with dots). Each source port is a session of its
 * own in splitcap, and in it every payload length occurs once.
 */
export const DATAGRAMS_PER_SOURCE_PORT = 100;
export const PAYLOAD_BASE_BYTES = 64;

export interface DatagramNumbering {
  /** The sender's address. */
  from: string;
  firstSourcePort: number;
  /** Source ports reserved for the stream (at most this many × DATAGRAMS_PER_SOURCE_PORT datagrams per port). */
  sourcePorts: number;
}

/** The index of a datagram of this stream from its source port and payload length, or null if it is not one. */
export function datagramIndex(n: DatagramNumbering, sourcePort: number, payloadLength: number): number | null {
  const block = sourcePort - n.firstSourcePort;
  const offset = payloadLength - PAYLOAD_BASE_BYTES;
  if (block < 0 || block >= n.sourcePorts || offset < 0 || offset >= DATAGRAMS_PER_SOURCE_PORT) return null;
  return block * DATAGRAMS_PER_SOURCE_PORT + offset;
}

/** The source ports that `count` datagrams of this stream leave from. */
export function sourcePortsOf(n: DatagramNumbering, count: number): number[] {
  const used = Math.min(n.sourcePorts, Math.ceil(count / DATAGRAMS_PER_SOURCE_PORT));
  return Array.from({ length: used }, (_, k) => n.firstSourcePort + k);
}

function reserveNumbering(pair: VethPair, ns: string, datagrams: number): DatagramNumbering {
  const sourcePorts = Math.max(1, Math.ceil(datagrams / DATAGRAMS_PER_SOURCE_PORT));
  const n = { from: ns === pair.nsA ? pair.addrA : pair.addrB, firstSourcePort: pair.nextSourcePort, sourcePorts };
  pair.nextSourcePort += sourcePorts;
  if (pair.nextSourcePort > 60_000) throw new Error('numbered datagram streams ran out of source ports');
  return n;
}

// The senders' side of the numbering above, for the node processes that send inside a namespace.
const numberedSocketsScript = `
  const dgram = require('dgram');
  const sockets = new Map();
  function socketFor(i) {
    const port = FIRST_SOURCE_PORT + Math.floor(i / PER_PORT);
    let s = sockets.get(port);
    if (s === undefined) { s = dgram.createSocket('udp4'); s.bind(port); sockets.set(port, s); }
    return s;
  }
  function payload(text, i) {
    if (text.length > BASE) throw new Error('datagram text ' + text + ' is longer than ' + BASE + ' bytes');
    return Buffer.from(text.padEnd(BASE + (i % PER_PORT), '.'));
  }
  function closeAll() { for (const s of sockets.values()) s.close(); }`;

function numberedScript(n: DatagramNumbering, body: string): string {
  return `const FIRST_SOURCE_PORT = ${n.firstSourcePort}; const PER_PORT = ${DATAGRAMS_PER_SOURCE_PORT}; const BASE = ${PAYLOAD_BASE_BYTES};${numberedSocketsScript}${body}`;
}

/**
 * Sends `count` numbered UDP datagrams (see DatagramNumbering) from `ns` to host:port, text `${tag}-${i}`, `batch`
 * of them every `intervalMs` milliseconds. Runs a plain node process inside the namespace; resolves when it exits,
 * with the numbering that names the datagrams.
 */
export function sendUdp(
  pair: VethPair,
  ns: string,
  host: string,
  port: number,
  tag: string,
  count: number,
  options: { intervalMs?: number; batch?: number } = {},
): Promise<DatagramNumbering> {
  const numbering = reserveNumbering(pair, ns, count);
  const script = numberedScript(
    numbering,
    `
    const [host, port, tag, count, intervalMs, batch] = process.argv.slice(1);
    let i = 0; const end = Number(count); let pending = 0;
    function tick() {
      let n = 0;
      while (i < end && n < Number(batch)) { pending++; socketFor(i).send(payload(tag + '-' + i, i), Number(port), host, () => { if (--pending === 0 && i >= end) closeAll(); }); i++; n++; }
      if (i < end) setTimeout(tick, Number(intervalMs));
    }
    tick();`,
  );
  const child = nsSpawn(
    pair,
    ns,
    process.execPath,
    ['-e', script, host, String(port), tag, String(count), String(options.intervalMs ?? 1), String(options.batch ?? 1)],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) =>
      code === 0 ? resolve(numbering) : reject(new Error(`UDP sender exited with ${code}: ${err}`)),
    );
  });
}

export interface AgentProcess {
  child: ChildProcess;
  /** IPC messages received so far. */
  messages: Array<{ type: string; [k: string]: unknown }>;
  output: () => string;
  /** Resolves with the first message of this type (already received or future), rejects after ms. */
  waitFor: (
    type: string,
    ms: number,
    pred?: (m: { type: string; [k: string]: unknown }) => boolean,
  ) => Promise<{ type: string; [k: string]: unknown }>;
  /** SIGTERM and wait for the exit code. */
  stop: (ms?: number) => Promise<number | null>;
}

/**
 * Runs one of the agent apps (apps/<app>/src/main.ts through tsx) inside `ns`, with an IPC channel (fork-style: the
 * channel fd survives `ip netns exec`).
 */
export function startAgentApp(
  pair: VethPair,
  ns: string,
  app: 'sniffer' | 'listener',
  repoRoot: string,
  env: Record<string, string>,
): AgentProcess {
  const child = nsSpawn(pair, ns, process.execPath, [...SOURCE_EXEC_ARGV, `${repoRoot}/apps/${app}/src/main.ts`], {
    cwd: repoRoot,
    env: { ...process.env, FLEETCAP_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const messages: AgentProcess['messages'] = [];
  const waiters: Array<() => void> = [];
  child.on('message', (m: { type: string }) => {
    messages.push(m);
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    messages,
    output: () => out,
    waitFor(type, ms, pred = () => true) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no '${type}' message from ${app} in ${ms} ms; output:\n${out.slice(-4000)}`)),
          ms,
        );
        const check = () => {
          const m = messages.find((x) => x.type === type && pred(x));
          if (m !== undefined) {
            clearTimeout(timer);
            resolve(m);
            return;
          }
          waiters.push(check);
        };
        check();
        void exited.then(() => {
          if (!messages.some((x) => x.type === type && pred(x))) {
            clearTimeout(timer);
            reject(new Error(`${app} exited before '${type}'; output:\n${out.slice(-4000)}`));
          }
        });
      });
    },
    async stop(ms = 15000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Polls `check` every 50 ms until it returns true; throws `what` after ms. */
export async function until(
  check: () => boolean | Promise<boolean>,
  ms: number,
  what: () => string | Promise<string>,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${await what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface UdpStream {
  /** Names the datagrams: datagram i to every port is the stream's i-th tick. */
  numbering: DatagramNumbering;
  /** Stops the sender; resolves with how many datagrams it sent to each port. */
  stop(): Promise<Record<number, number>>;
}

/** Ticks a stream may last (200 source ports): 100 s at a 5 ms interval. */
const STREAM_MAX_TICKS = 20_000;

/**
 * Sends one numbered datagram (see DatagramNumbering) to each port every intervalMs from `ns` until stopped, text
 * `${tag}-${port}-${i}`; tick i sends datagram i to every port. Stops sending after STREAM_MAX_TICKS.
 */
export function udpStream(
  pair: VethPair,
  ns: string,
  host: string,
  ports: number[],
  tag: string,
  intervalMs: number,
): UdpStream {
  const numbering = reserveNumbering(pair, ns, STREAM_MAX_TICKS);
  const script = numberedScript(
    numbering,
    `
    const [host, ports, tag, intervalMs, maxTicks] = process.argv.slice(1);
    const list = ports.split(',').map(Number); const sent = {}; for (const p of list) sent[p] = 0;
    let i = 0;
    const t = setInterval(() => { if (i >= Number(maxTicks)) return; const s = socketFor(i); for (const p of list) { s.send(payload(tag + '-' + p + '-' + i, i), p, host); sent[p]++; } i++; }, Number(intervalMs));
    process.on('SIGTERM', () => { clearInterval(t); setTimeout(() => { process.stdout.write(JSON.stringify(sent)); closeAll(); }, 50); });`,
  );
  const child = nsSpawn(
    pair,
    ns,
    process.execPath,
    ['-e', script, host, ports.join(','), tag, String(intervalMs), String(STREAM_MAX_TICKS)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    numbering,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      return JSON.parse(out) as Record<number, number>;
    },
  };
}

/** SIGKILLs a process and its descendants, by pid (socat's forked per-connection children outlive their parent). */
export function killTree(pid: number): void {
  let children: number[] = [];
  try {
    children = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {}
  try {
    process.kill(pid, 'SIGKILL');
  } catch {}
  for (const c of children) killTree(c);
}
