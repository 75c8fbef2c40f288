// `fleetcap sessions [--json] FILE...`: offline sessionizing of capture files with the same reader, decoder and
// session key as splitcap, no servers needed. Each file is sessionized on its own.
import { closeSync, openSync, readSync } from 'node:fs';
import type { SessionMetadataCollector } from '@fleetcap/lib/app-metadata/from-session';
import type { DecodedPacket } from '@fleetcap/lib/packet/decode';
import {
  ANY_CAPTURE_TIME,
  type CaptureTimeWindow,
  captureTimeWindow,
  describeCaptureTimeWindow,
  TIME_OUT_OF_RANGE,
} from '@fleetcap/lib/pcap/capture-time';
import { CaptureParser, MAX_BLOCK_LENGTH, type ReaderCounters } from '@fleetcap/lib/pcap/reader';
import { type SessionizePhases, sessionizeCapture } from '@fleetcap/lib/session/sessionize-capture';
import type { Session, Sessionizer } from '@fleetcap/lib/session/sessionizer';
import type { SessionRecord, SessionRecords } from '@fleetcap/lib/session-record/session-records';
import type { Command } from 'commander';
import { captureFiles, FileListError } from './file-list.ts';

export const EXIT_ALL_READ = 0;
export const EXIT_SOME_UNREADABLE = 2;
/** No file given, or the --files-from list could not be read. */
export const EXIT_USAGE = 64;

export interface SessionsOptions {
  json?: boolean;
  /** Application metadata per session (the command line's default; off unless set when called from code). */
  metadata?: boolean;
  /** Keep packets of any capture time (the default skips those outside splitcap's window, as splitcap does). */
  anyTime?: boolean;
  /** A file listing more capture files, one a line; `-` is stdin. */
  filesFrom?: string;
}

interface Output {
  write(text: string): unknown;
}

export interface FileResult {
  file: string;
  sessions: Session[];
  sessionizer: Sessionizer;
  /** Community ID and Zeek-style record (conn_state, history, counters) of each session. */
  records: SessionRecords;
  reader: ReaderCounters;
  /** Why the file could not be read to its end; its sessions up to that point are still reported. */
  error?: { message: string; offset?: number };
  /** With metadata on: each session's application metadata, from its first SESSION_MAX_PACKETS packets. */
  metadata?: SessionMetadataCollector;
}

const READ_CHUNK_BYTES = 4 << 20;
const OUTPUT_BYTES = 64 * 1024;

/**
 * The file through one reused buffer, read synchronously (this command has nothing else to do meanwhile, and a read
 * stream's event-loop round trips and fresh 4 MiB buffers cost more than the reads). The parser's unread tail, less
 * than one record, moves to the front of the buffer before the next read. Only valid with the record path.
 */
function* fileChunks(file: string, parser: CaptureParser): Generator<Buffer> {
  const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES + MAX_BLOCK_LENGTH);
  const fd = openSync(file, 'r');
  try {
    let carried = 0;
    for (;;) {
      const length = readSync(fd, buffer, carried, READ_CHUNK_BYTES, null);
      if (length === 0) {
        if (carried > 0) yield buffer.subarray(0, carried);
        return;
      }
      yield buffer.subarray(0, carried + length);
      const unread = parser.takeUnread();
      carried = unread.length;
      if (carried > 0) {
        if (unread.buffer === buffer.buffer) {
          const from = unread.byteOffset - buffer.byteOffset;
          buffer.copyWithin(0, from, from + carried);
        } else {
          unread.copy(buffer, 0);
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** Sessionizes one file, never throwing: a read or format error is returned with what was read before it. */
export async function sessionizeFile(
  file: string,
  options: {
    metadata?: boolean;
    captureTimes?: CaptureTimeWindow;
    /** Called with every packet a session got (fromInitiator: the session's src sent it). */
    onPacket?: (session: Session, decoded: DecodedPacket, fromInitiator: boolean) => void;
  } = {},
): Promise<FileResult> {
  const parser = new CaptureParser();
  const phases: SessionizePhases = {
    metadata: options.metadata === true,
    captureTimes: options.captureTimes ?? captureTimeWindow(),
  };
  if (options.onPacket) phases.onPacket = options.onPacket;
  const run = await sessionizeCapture(fileChunks(file, parser), phases, parser);
  const sessionizer = run.sessionizer!;
  const result: FileResult = {
    file,
    sessions: [...sessionizer.sessions.values()],
    sessionizer,
    records: run.records!,
    reader: parser.counters,
  };
  if (run.error) result.error = run.error;
  if (run.metadata) result.metadata = run.metadata;
  return result;
}

/**
 * One session as a JSON line. Written by hand because it runs once per session (tens of thousands per file):
 * addresses, keys and protocol names hold no character JSON escapes, and the file name comes pre-quoted.
 */
function sessionJson(
  quotedFile: string,
  s: Session,
  record: SessionRecord | undefined,
  metadata?: SessionMetadataCollector,
): string {
  return (
    `{"type":"session","file":${quotedFile},"proto":"${s.proto}","src":"${s.src}","sport":${s.sport},` +
    `"dst":"${s.dst}","dport":${s.dport},"packets":${s.packets},"bytes":${s.bytes},"first":${s.first},` +
    `"last":${s.last},"packetsFromSrc":${s.packetsFromInitiator},"bytesFromSrc":${s.bytesFromInitiator},` +
    `"key":"${s.key}"${record ? recordJson(record) : ''}` +
    `${metadata ? `,"metadata":${metadata.jsonOf(s)}` : ''}}`
  );
}

/**
 * The session record's fields: Community ID, and Zeek's conn.log view of the session's first connection
 * (`originator` says whether Zeek's originator is the session's src or dst; `zeekConnections` how many connections
 * Zeek would log for the 5-tuple). Base64 and Zeek's history letters hold no character JSON escapes.
 */
function recordJson(r: SessionRecord): string {
  const c = r.first;
  return (
    `,"communityId":${r.communityId === null ? 'null' : `"${r.communityId}"`},"connState":"${c.connState}",` +
    `"history":"${c.history}","originator":"${c.originatorIsResponder ? 'dst' : 'src'}",` +
    `"origPkts":${c.origPkts},"origIpBytes":${c.origIpBytes},"respPkts":${c.respPkts},` +
    `"respIpBytes":${c.respIpBytes},"duration":${c.duration},"zeekConnections":${r.connections}`
  );
}

/** How often each metadata problem occurred in the file's sessions. */
function metadataProblemCounts(result: FileResult): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of result.sessions) {
    for (const code of result.metadata!.problemsOf(s)) counts[code] = (counts[code] ?? 0) + 1;
  }
  return counts;
}

function summaryObject(result: FileResult) {
  const c = result.sessionizer.counters;
  return {
    type: 'summary',
    file: result.file,
    format: result.reader.format ?? null,
    linktypes: [...result.reader.linktypes].sort((x, y) => x - y),
    read: c.read,
    decoded: c.decoded,
    skipped: c.skipped,
    otherTransport: c.otherTransport,
    sessions: result.sessions.length,
    truncatedAtEnd: result.reader.truncatedAtEnd,
    skippedBlocks: result.reader.skippedBlocks,
    obsoletePacketBlocks: result.reader.obsoletePacketBlocks,
    caplenOverSnaplen: result.reader.caplenOverSnaplen,
    invalidTimestamps: result.reader.invalidTimestamps,
    ...(result.metadata ? { metadataProblems: metadataProblemCounts(result) } : {}),
    ...(result.error ? { error: result.error } : {}),
  };
}

function endpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function isoTime(seconds: number): string {
  return Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString() : String(seconds);
}

function tableLines(result: FileResult): string[] {
  const rows = result.sessions.map((s) => [
    s.proto,
    endpoint(s.src, s.sport),
    endpoint(s.dst, s.dport),
    String(s.packets),
    String(s.bytes),
    isoTime(s.first),
    (s.last - s.first).toFixed(6),
    ...(result.metadata ? [result.metadata.metadataOf(s).service ?? '-'] : []),
  ]);
  const header = ['proto', 'src', 'dst', 'packets', 'bytes', 'first', 'duration'];
  if (result.metadata) header.push('service');
  // A loop, not Math.max(...): a file of a million sessions would overflow the call stack with a spread.
  const widths = header.map((h, i) => {
    let width = h.length;
    for (const r of rows) width = Math.max(width, r[i]?.length ?? 0);
    return width;
  });
  const numeric = new Set([3, 4, 6]);
  const format = (cells: string[]) =>
    cells.map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ');
  const c = result.sessionizer.counters;
  const skipped = Object.entries(c.skipped)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  return [
    `== ${result.file}: ${result.sessions.length} sessions`,
    format(header),
    ...rows.map(format),
    `packets read ${c.read}, decoded ${c.decoded}, skipped ${c.read - c.decoded}${skipped ? ` (${skipped})` : ''}` +
      (result.reader.truncatedAtEnd ? ', last record truncated' : ''),
    '',
  ];
}

/** Runs the command over `files`; returns the exit code. */
export async function runSessions(
  files: string[],
  options: SessionsOptions,
  out: Output = process.stdout,
  err: Output = process.stderr,
): Promise<number> {
  let exitCode = EXIT_ALL_READ;
  const captureTimes = options.anyTime ? ANY_CAPTURE_TIME : captureTimeWindow();
  for (const file of files) {
    const result = await sessionizeFile(file, { metadata: options.metadata === true, captureTimes });
    const outOfRange = result.sessionizer.counters.skipped[TIME_OUT_OF_RANGE];
    if (outOfRange > 0)
      err.write(
        `fleetcap sessions: ${file}: skipped ${outOfRange} packets captured outside ${describeCaptureTimeWindow(captureTimes)}, as splitcap does (--any-time keeps them)\n`,
      );
    if (result.error) {
      exitCode = EXIT_SOME_UNREADABLE;
      err.write(
        `fleetcap sessions: ${file}: ${result.error.message}` +
          (result.sessionizer.counters.read > 0
            ? ` (${result.sessionizer.counters.read} packets read before it)`
            : '') +
          '\n',
      );
    }
    if (options.json) {
      // Written every OUTPUT_BYTES, so that the text of a file with many sessions is never held whole, and each
      // line dies young: lines held for a slice of thousands of sessions outlived the collections that the
      // metadata computed meanwhile caused, and were copied and promoted with it.
      const quotedFile = JSON.stringify(file);
      let text = '';
      for (const s of result.sessions) {
        text += `${sessionJson(quotedFile, s, result.records.get(s), result.metadata)}\n`;
        if (text.length >= OUTPUT_BYTES) {
          out.write(text);
          text = '';
        }
      }
      out.write(`${text}${JSON.stringify(summaryObject(result))}\n`);
    } else {
      out.write(`${tableLines(result).join('\n')}\n`);
    }
  }
  return exitCode;
}

export function registerSessionsCommand(program: Command): void {
  program
    .command('sessions')
    .description('group the TCP/UDP packets of pcap/pcapng files into bidirectional sessions (offline, no servers)')
    .option('--json', 'one JSON object per line per session, then a {"type":"summary"} line per file')
    .option('--no-metadata', 'no application metadata (service, HTTP, TLS, DNS, SSH fields): faster, keeps no payload')
    .option(
      '--any-time',
      'keep packets of any capture time (by default those outside 1990-01-01 to one day from now are skipped and counted, as splitcap does)',
    )
    .option('--files-from <file>', 'more capture files, one path a line (- reads the list from stdin)')
    .argument('[files...]', 'capture files (pcap or pcapng)')
    .action(async (args: string[], options: SessionsOptions) => {
      let files: string[];
      try {
        files = await captureFiles(args, options.filesFrom);
      } catch (cause) {
        if (!(cause instanceof FileListError)) throw cause;
        process.stderr.write(`fleetcap sessions: ${cause.message}\n`);
        process.exitCode = EXIT_USAGE;
        return;
      }
      // A reader that stops early (`| head`) is not an error of ours.
      process.stdout.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'EPIPE') process.exit(process.exitCode ?? EXIT_ALL_READ);
        throw error;
      });
      process.exitCode = await runSessions(files, options);
    });
}
