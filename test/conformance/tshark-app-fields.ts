// Runs `tshark -T fields` for the application-metadata fields of a capture, one row per frame, for the conformance
// test (cached by tshark-runner.ts).
import { runTsharkCached, type TsharkRun } from './tshark-runner.ts';

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

const APP_FIELDS_RUN: TsharkRun = { cacheName: 'app', args: TSHARK_APP_ARGS, maxBufferBytes: 256 * 1024 * 1024 };

export async function tsharkAppFrames(file: string, timeoutMs: number): Promise<TsharkFrame[]> {
  return parseFieldRows((await runTsharkCached(APP_FIELDS_RUN, file, timeoutMs)).stdout);
}
