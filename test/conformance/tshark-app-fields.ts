// Runs `tshark -T fields` for the application-metadata fields of a capture, one row per frame, for the conformance
// test. Outputs are cached under the temp dir keyed by tshark's version, the arguments and the file's bytes, as the
// conversations test does (FLEETCAP_TSHARK_CACHE=off disables it).
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The fields asked for, in column order. */
export const APP_FIELDS = [
  'frame.number',
  'ip.src',
  'ipv6.src',
  'tcp.srcport',
  'udp.srcport',
  'ip.dst',
  'ipv6.dst',
  'tcp.dstport',
  'udp.dstport',
  'http.request.method',
  'http.request.uri',
  'http.host',
  'http.user_agent',
  'http.response.code',
  'tls.record.version',
  'tls.handshake.type',
  'tls.handshake.version',
  'tls.handshake.extensions_server_name',
  'tls.handshake.extensions_alpn_str',
  'tls.handshake.ciphersuite',
  'tls.handshake.extension.type',
  'tls.handshake.sig_hash_alg',
  'tls.handshake.sig_hash_alg_len',
  'tls.handshake.extensions.supported_version',
  'dns.id',
  'dns.flags.response',
  'dns.qry.name',
  'dns.qry.type',
  'dns.flags.rcode',
  'dns.count.answers',
  'ssh.protocol',
  'ssh.direction',
  'ssh.kex.hassh',
  'ssh.kex.hasshserver',
] as const;
export type AppField = (typeof APP_FIELDS)[number];

/** Separates the several values of one field in one frame (a character no field here carries). */
const AGGREGATOR = '\x1e';

/**
 * - http.desegment_body off: with it on, tshark reports a message's fields at the frame that completes its body,
 *   often far past the stored packets; headers are what we read.
 * - ip/ipv6 defragment off as in the conversations test, so that frames and sessions line up the same way.
 */
export const TSHARK_APP_ARGS = [
  '-n',
  '-o',
  'http.desegment_body:FALSE',
  '-o',
  'ip.defragment:FALSE',
  '-o',
  'ipv6.defragment:FALSE',
  '-T',
  'fields',
  '-E',
  'separator=/t',
  '-E',
  `aggregator=${AGGREGATOR}`,
  '-E',
  'quote=n',
  ...APP_FIELDS.flatMap((f) => ['-e', f]),
];

export type TsharkFrame = Partial<Record<AppField, string[]>> & { frame: number };

export function parseFieldRows(stdout: string): TsharkFrame[] {
  const frames: TsharkFrame[] = [];
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const cells = line.split('\t');
    const frame: TsharkFrame = { frame: Number(cells[0]) };
    APP_FIELDS.forEach((field, i) => {
      const cell = cells[i];
      if (i > 0 && cell !== undefined && cell !== '') frame[field] = cell.split(AGGREGATOR);
    });
    frames.push(frame);
  }
  return frames;
}

let cacheDir: string | null | undefined;

function appCacheDir(): string | null {
  if (cacheDir !== undefined) return cacheDir;
  if (process.env.FLEETCAP_TSHARK_CACHE === 'off') {
    cacheDir = null;
    return cacheDir;
  }
  try {
    const version = execFileSync('tshark', ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
    const id = createHash('sha256')
      .update(`${version}\0${TSHARK_APP_ARGS.join(' ')}`)
      .digest('hex')
      .slice(0, 16);
    cacheDir = join(tmpdir(), 'fleetcap-tshark-app-cache', id);
    mkdirSync(cacheDir, { recursive: true });
  } catch {
    cacheDir = null;
  }
  return cacheDir;
}

export async function tsharkAppFrames(file: string, timeoutMs: number): Promise<TsharkFrame[]> {
  const dir = appCacheDir();
  const cached = dir ? join(dir, `${createHash('sha256').update(readFileSync(file)).digest('hex')}.txt`) : null;
  if (cached) {
    try {
      return parseFieldRows(readFileSync(cached, 'utf8'));
    } catch {
      // not cached yet
    }
  }
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      'tshark',
      [...TSHARK_APP_ARGS, '-r', file],
      { timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024, killSignal: 'SIGKILL' },
      (error, out) => {
        if (error && (error.killed || error.signal)) reject(new Error(`tshark on ${file} timed out`));
        // tshark exits non-zero on a cut-short last record and still prints every frame before it.
        else resolve(out);
      },
    );
  });
  if (cached) {
    writeFileSync(`${cached}.tmp`, stdout);
    renameSync(`${cached}.tmp`, cached);
  }
  return parseFieldRows(stdout);
}
