// What the capture benches share: trafgen as the generator on a veth pair (test/helpers/netns.ts), the socket
// buffer bounds it changes put back, and an upload sink that answers 202 to every batch.
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { nsSpawn, type VethPair } from '../../test/helpers/netns.ts';

export const spawnIn = (pair: VethPair, ns: string, cmd: string, args: string[]): ChildProcess =>
  nsSpawn(pair, ns, cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });

export function collect(child: ChildProcess): { text: () => string; exited: Promise<number | null> } {
  let text = '';
  child.stdout?.on('data', (c: Buffer) => {
    text += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    text += c.toString();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { text: () => text, exited };
}

export async function waitFor(what: string, check: () => boolean, ms: number, output: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`${what} not ready in ${ms} ms: ${output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** trafgen's packet configuration: the first `count` packets of a classic pcap, one `{ bytes }` block each. */
export function trafgenConfig(pcap: Buffer, count: number): string {
  const blocks: string[] = [];
  for (let at = 24; at + 16 <= pcap.length && blocks.length < count; ) {
    const caplen = pcap.readUInt32LE(at + 8);
    const bytes = pcap.subarray(at + 16, at + 16 + caplen);
    blocks.push(`{ ${Array.from(bytes, (b) => `0x${b.toString(16).padStart(2, '0')}`).join(', ')} }`);
    at += 16 + caplen;
  }
  return `${blocks.join('\n')}\n`;
}

/**
 * One trafgen process on the pair's A end; `pps` undefined: unrated, on `cpus` cores (its PACKET_MMAP TX_RING path).
 * Returns the packets it sent and its sending seconds (the longest of its cores).
 */
export async function trafgen(pair: VethPair, cfg: string, pps: number | undefined, cpus: number, seconds: number) {
  const count = Math.round((pps ?? 2_000_000) * seconds);
  const args = ['-o', pair.devA, '-i', cfg, '-n', String(count), '-P', String(cpus), '-Q'];
  if (pps !== undefined) args.push('-b', `${Math.round(pps)}pps`);
  const child = spawnIn(pair, pair.nsA, 'trafgen', args);
  const out = collect(child);
  // The count bounds a rated run; an unrated one is stopped after `seconds` (its packet configuration parsed first).
  // trafgen -P N forks one sender per core, which a SIGINT to the parent alone does not stop: the whole tree gets it.
  const timer = setTimeout(
    () => {
      for (const pid of processTree(child.pid!).reverse())
        try {
          process.kill(pid, 'SIGINT');
        } catch {}
    },
    (seconds + 3) * 1000,
  );
  const code = await out.exited;
  clearTimeout(timer);
  const text = out.text();
  const sent = /(\d+) packets outgoing/.exec(text);
  const cpuTimes = [...text.matchAll(/(\d+) sec,\s+(\d+) usec on CPU\d+/g)].map(
    (m) => Number(m[1]) + Number(m[2]) / 1e6,
  );
  if (!sent || cpuTimes.length === 0) throw new Error(`trafgen exited with ${code}: ${text.slice(-1500)}`);
  return { sent: Number(sent[1]), seconds: Math.max(...cpuTimes) };
}

/** trafgen raises these (socket buffer bounds) while it runs: restore() puts them back as they were at the call. */
export function socketMemoryKeeper(): { restore: () => void } {
  const files = ['rmem_default', 'rmem_max', 'wmem_default', 'wmem_max'].map((n) => `/proc/sys/net/core/${n}`);
  const before = files.map((f) => {
    try {
      return readFileSync(f, 'utf8').trim();
    } catch {
      return undefined;
    }
  });
  return {
    restore: () =>
      files.forEach((f, i) => {
        const v = before[i];
        try {
          if (v !== undefined && readFileSync(f, 'utf8').trim() !== v) writeFileSync(f, v);
        } catch {}
      }),
  };
}

/** A sink in namespace `ns` that takes every batch (202), so that the sniffer's uploads never back up. */
const SINK = `
  const http = require('http');
  const s = http.createServer((req, res) => { let n = 0; req.on('data', (c) => { n += c.length; }); req.on('end', () => {
    res.writeHead(202, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ batchId: req.headers['x-fleetcap-batch'] || '', duplicate: false, packetsRead: 0, packetsStored: 0, sessions: 0, scheduled: {}, skipped: {} }));
  }); });
  s.listen(0, '127.0.0.1', () => process.stdout.write('port ' + s.address().port + '\\n'));`;

export async function startSink(pair: VethPair, ns: string): Promise<number> {
  const child = spawnIn(pair, ns, process.execPath, ['-e', SINK]);
  const out = collect(child);
  await waitFor('upload sink', () => /port \d+/.test(out.text()), 10_000, out.text);
  return Number(/port (\d+)/.exec(out.text())![1]);
}

/** user + system CPU seconds of one process (0 once it is gone). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** VmRSS of one process, KiB (0 once it is gone). */
export function rssKiB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** A process and all its descendants, from /proc (parents before children). */
export function processTree(root: number): number[] {
  const parentOf = new Map<number, number[]>();
  for (const name of readdirSafe('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const kids = parentOf.get(ppid) ?? [];
      kids.push(pid);
      parentOf.set(ppid, kids);
    } catch {}
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const k of parentOf.get(p) ?? []) walk(k);
  };
  walk(root);
  return out;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
