// `fleetcap upload FILE...`: sends captures to splitcap as an agent would, with a progress bar.
// Large captures are cut into batches at packet boundaries (the same limit splitcap enforces), each
// with a batch id derived from the file and its position, so an interrupted upload can be rerun.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { basename } from 'node:path';
import { CaptureParser } from '@fleetcap/lib/pcap/reader';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import {
  type BatchAccepted,
  batchesUrl,
  parseRetryAfter,
  senderAction,
  UPLOAD_HEADERS,
  uploadHeaders,
} from '@fleetcap/lib/upload/batch-upload';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';

export interface UploadOptions {
  url: string;
  agent: string;
  token: string;
  batchPackets: number;
  progress: boolean;
  /** For an https:// splitcap: the CA its certificate is verified against (default: the system's CAs). */
  ca?: Buffer;
}

interface Answer {
  status: number;
  text: string;
  retryAfter: string | null;
}

/** One POST: fetch, or node:https when a CA is given (fetch cannot be given one). */
function post(url: string, headers: Record<string, string>, body: Buffer, ca?: Buffer): Promise<Answer> {
  if (ca === undefined || !url.startsWith('https:'))
    return fetch(url, { method: 'POST', headers, body }).then(async (res) => ({
      status: res.status,
      text: await res.text(),
      retryAfter: res.headers.get(UPLOAD_HEADERS.retryAfter),
    }));
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', ca, headers: { ...headers, 'content-length': String(body.length) } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c));
        res.on('end', () => {
          const retryAfter = res.headers[UPLOAD_HEADERS.retryAfter];
          resolve({
            status: res.statusCode ?? 0,
            text,
            retryAfter: (Array.isArray(retryAfter) ? retryAfter[0] : retryAfter) ?? null,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Cuts a capture into pcap batches of at most `batchPackets` packets (one link type per batch). */
export function* captureBatches(bytes: Buffer, batchPackets: number): Generator<{ body: Buffer; packets: number }> {
  const parser = new CaptureParser();
  parser.push(bytes);
  parser.end();
  let writer: PcapWriter | undefined;
  let writerLinktype = -1;
  for (let p = parser.next(); p !== null; p = parser.next()) {
    if (writer && (writer.packetCount >= batchPackets || p.linktype !== writerLinktype)) {
      yield { body: writer.toBuffer(), packets: writer.packetCount };
      writer = undefined;
    }
    if (!writer) {
      writer = new PcapWriter({ linktype: p.linktype, nanosecond: true });
      writerLinktype = p.linktype;
    }
    writer.write({ tsSec: p.tsSec, tsNsec: p.tsNsec, data: p.data, origLen: p.origLen });
  }
  if (writer && writer.packetCount > 0) yield { body: writer.toBuffer(), packets: writer.packetCount };
}

export async function uploadFile(
  file: string,
  o: UploadOptions,
): Promise<{ batches: number; packets: number; duplicates: number }> {
  const bytes = readFileSync(file);
  const fileId = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
  const batches = [...captureBatches(bytes, o.batchPackets)];
  const total = batches.reduce((n, b) => n + b.packets, 0);
  const url = batchesUrl(o.url);
  const bar = o.progress
    ? new SingleBar({ format: `${basename(file)} [{bar}] {value}/{total} packets | {eta_formatted} left` })
    : undefined;
  bar?.start(total, 0);
  let duplicates = 0;
  try {
    for (const [i, b] of batches.entries()) {
      for (let attempt = 1; ; attempt++) {
        const res = await post(url, uploadHeaders(o.agent, o.token, `upload-${fileId}-${i}`), b.body, o.ca);
        const text = res.text;
        const action = senderAction(res.status);
        if (action === 'done') {
          if ((JSON.parse(text) as BatchAccepted).duplicate) duplicates++;
          break;
        }
        if (action === 'retry' && attempt < 10) {
          const waitMs = parseRetryAfter(res.retryAfter) ?? 1000;
          await new Promise((r) => setTimeout(r, waitMs));
          continue;
        }
        throw new Error(`${file}: batch ${i + 1}/${batches.length} refused with ${res.status}: ${text}`);
      }
      bar?.increment(b.packets);
    }
  } finally {
    bar?.stop();
  }
  return { batches: batches.length, packets: total, duplicates };
}

export function registerUploadCommand(program: Command): void {
  program
    .command('upload')
    .argument('<files...>', 'pcap or pcapng files')
    .description(
      'send captures to splitcap as an agent would (batches, retries while splitcap asks to, a progress bar)',
    )
    .option('--url <url>', 'splitcap base URL', process.env.FLEETCAP_SPLITCAP_URL ?? 'http://127.0.0.1:8080')
    .option('--agent <id>', 'agent id to upload as', process.env.FLEETCAP_AGENT_ID ?? 'local-upload')
    .option('--token <token>', "that agent's bearer token (or FLEETCAP_AGENT_TOKEN)", process.env.FLEETCAP_AGENT_TOKEN)
    .option('--batch-packets <n>', 'packets per batch', '5000')
    .option(
      '--ca <file>',
      "the CA of splitcap's certificate, for https:// (or FLEETCAP_SPLITCAP_CA_FILE)",
      process.env.FLEETCAP_SPLITCAP_CA_FILE,
    )
    .action(
      async (
        files: string[],
        opts: { url: string; agent: string; token?: string; batchPackets: string; ca?: string },
      ) => {
        if (!opts.token) {
          console.error(
            'fleetcap upload: no token: pass --token or set FLEETCAP_AGENT_TOKEN (the agent=token pair splitcap was started with)',
          );
          process.exit(2);
        }
        let failed = 0;
        for (const file of files) {
          try {
            statSync(file);
            const r = await uploadFile(file, {
              url: opts.url,
              agent: opts.agent,
              token: opts.token,
              batchPackets: Number(opts.batchPackets),
              progress: process.stderr.isTTY === true,
              ...(opts.ca ? { ca: readFileSync(opts.ca) } : {}),
            });
            console.log(
              `${file}: ${r.packets} packets in ${r.batches} batches${r.duplicates ? ` (${r.duplicates} already uploaded)` : ''}`,
            );
          } catch (err) {
            failed++;
            console.error(`fleetcap upload: ${(err as Error).message}`);
          }
        }
        process.exit(failed ? 2 : 0);
      },
    );
}
