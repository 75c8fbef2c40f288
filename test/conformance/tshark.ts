// Runs `tshark -z conv,tcp -z conv,udp` on a capture and parses its conversation tables, for the conformance test.
import { execFile } from 'node:child_process';
import { runTsharkCached, type TsharkRun } from './tshark-runner.ts';

export interface Conversation {
  proto: 'tcp' | 'udp';
  /** Unordered 5-tuple as text: proto plus both endpoints sorted. */
  key: string;
  frames: number;
  /** Exact byte count when tshark printed "N bytes", else undefined (it rounds to kB/MB from 10 000 on). */
  bytes: number | undefined;
  /** tshark's own text for the bytes column, e.g. "139 kB". */
  bytesText: string;
  /** Seconds from the first to the last frame, as tshark prints it (4 decimals); undefined when rows were merged. */
  duration: number | undefined;
}

export interface TsharkResult {
  conversations: Map<string, Conversation>;
  exitCode: number;
  stderr: string;
}

/**
 * tshark options that make it count what a per-packet decoder can count:
 * - ip.defragment / ipv6.defragment off: with reassembly on, tshark credits a fragmented datagram's transport
 *   conversation to the frame that completes the reassembly (and none to the others); with it off, the first
 *   fragment (which carries the transport header) is the one counted, as our decoder does.
 * Name resolution is off (-n) so that addresses and ports stay numeric.
 */
export const TSHARK_ARGS = ['-n', '-q', '-o', 'ip.defragment:FALSE', '-o', 'ipv6.defragment:FALSE'];

export function endpointKey(proto: string, addressA: string, portA: number, addressB: string, portB: number): string {
  const a = `${addressA}|${portA}`;
  const b = `${addressB}|${portB}`;
  return a <= b ? `${proto} ${a} ${b}` : `${proto} ${b} ${a}`;
}

function normalizeAddress(address: string): string {
  // tshark writes IPv4-mapped and IPv4-compatible IPv6 addresses with a dotted tail; the URL parser gives the
  // RFC 5952 hex form our decoder writes.
  if (!address.includes(':')) return address;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address;
  }
}

function splitEndpoint(text: string): [string, number] {
  const colon = text.lastIndexOf(':');
  return [normalizeAddress(text.slice(0, colon)), Number(text.slice(colon + 1))];
}

function parseBytes(text: string): number | undefined {
  const [value, unit] = text.split(' ');
  return unit === 'bytes' ? Number(value) : undefined;
}

/** True when tshark's rounded bytes text is what `bytes` prints as (it truncates or rounds depending on version). */
export function bytesMatch(conversation: Conversation, bytes: number): boolean {
  if (conversation.bytes !== undefined) return conversation.bytes === bytes;
  const [valueText, unit] = conversation.bytesText.split(' ');
  const scale = unit === 'kB' ? 1e3 : unit === 'MB' ? 1e6 : unit === 'GB' ? 1e9 : Number.NaN;
  const value = Number(valueText);
  return Math.floor(bytes / scale) === value || Math.round(bytes / scale) === value;
}

const ROW =
  /^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+(\d+ \w+)\s+(\d+)\s+(\d+ \w+)\s+(\d+)\s+(\d+ \w+)\s+([-\d.]+)\s+([-\d.]+)\s*$/;

export function parseConversationTables(stdout: string): Map<string, Conversation> {
  const conversations = new Map<string, Conversation>();
  let proto: 'tcp' | 'udp' | undefined;
  for (const line of stdout.split('\n')) {
    if (line.startsWith('TCP Conversations')) proto = 'tcp';
    else if (line.startsWith('UDP Conversations')) proto = 'udp';
    else if (line.startsWith('====')) continue;
    const match = proto ? ROW.exec(line) : null;
    if (!match || !proto) continue;
    const [addressA, portA] = splitEndpoint(match[1]!);
    const [addressB, portB] = splitEndpoint(match[2]!);
    const key = endpointKey(proto, addressA, portA, addressB, portB);
    const bytesText = match[8]!;
    const previous = conversations.get(key);
    if (previous) {
      // tshark splits a TCP conversation it sees restart (port reuse); the unordered 5-tuple joins them again.
      previous.frames += Number(match[7]);
      previous.bytes =
        previous.bytes !== undefined && parseBytes(bytesText) !== undefined
          ? previous.bytes + parseBytes(bytesText)!
          : undefined;
      previous.bytesText = previous.bytes !== undefined ? `${previous.bytes} bytes` : `${previous.bytesText}+`;
      previous.duration = undefined;
      continue;
    }
    conversations.set(key, {
      proto,
      key,
      frames: Number(match[7]),
      bytes: parseBytes(bytesText),
      bytesText,
      duration: Number(match[10]),
    });
  }
  return conversations;
}

const CONVERSATIONS_RUN: TsharkRun = {
  cacheName: 'conv',
  args: TSHARK_ARGS,
  trailingArgs: ['-z', 'conv,tcp', '-z', 'conv,udp'],
  maxBufferBytes: 64 * 1024 * 1024,
};

export async function runTshark(file: string, timeoutMs: number): Promise<TsharkResult> {
  const { stdout, exitCode, stderr } = await runTsharkCached(CONVERSATIONS_RUN, file, timeoutMs);
  return { conversations: parseConversationTables(stdout), exitCode, stderr };
}

/** Maps `items` through `work` with at most `limit` in flight, keeping order. */
export async function mapLimited<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  });
  await Promise.all(runners);
  return results;
}

/** Frames tshark flags as malformed (a dissector exception), which it leaves out of its conversation tables. */
export function tsharkMalformedFrames(file: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(
      'tshark',
      ['-n', '-r', file, '-Y', '_ws.malformed', '-T', 'fields', '-e', 'frame.number'],
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, killSignal: 'SIGKILL' },
      (error, stdout) => {
        if (error && (error.killed || error.signal)) reject(new Error(`tshark on ${file} timed out`));
        else resolve(stdout.split('\n').filter((line) => line.trim() !== '').length);
      },
    );
  });
}
