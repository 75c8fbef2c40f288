// Capture through tcpdump (libpcap's own tool) as a child process writing classic pcap to a pipe, read with the
// project's streaming reader. Why not an in-process binding: see docs/ARCHITECTURE.md "Capture path".
//
// tcpdump is run with -U (write each packet to the pipe as soon as libpcap hands it over) and, by default, without
// --immediate-mode: libpcap then uses TPACKET_V3 blocks that the kernel hands over when full or after tcpdump's
// 1 s timeout. Immediate mode delivers every packet at once but costs a wakeup per packet, and here it dropped
// packets at rates plain tcpdump takes without a drop (docs/ARCHITECTURE.md). The price of blocks: a packet may
// reach us up to ~1 s after capture, and a block not yet handed over when tcpdump stops is lost, so a sniffer
// lingers (FLEETCAP_CAPTURE_LINGER_MS) after its cut-off time before it stops tcpdump.
// Kernel drop counts come from tcpdump's statistics: SIGUSR1 prints them on stderr while it runs, and it prints them
// once more when it exits.
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { CaptureParser, type PacketRecord } from '@fleetcap/lib/pcap/reader';

export interface CaptureOptions {
  device: string;
  filter: string;
  snaplen: number;
  promiscuous: boolean;
  /** Kernel capture buffer in KiB (tcpdump -B). */
  bufferKiB: number;
  /** tcpdump --immediate-mode: lowest latency, fewer packets per second without drops. */
  immediate?: boolean;
  tcpdump?: string;
  /**
   * Every packet, as the parser's one reused record (valid only during the call: no object per packet). Its bytes
   * are views into the stream's chunks, which are never rewritten, so they may be kept. `classicPcap`: the record
   * comes from a classic pcap stream (tcpdump's -w output), its 16-byte header just before its data.
   */
  onRecord: (record: PacketRecord, classicPcap: boolean) => void;
  /** A line tcpdump wrote on stderr that is not a statistics line. */
  onMessage?: (line: string) => void;
}

export interface CaptureStats {
  /** Packets tcpdump wrote. */
  captured: number;
  /** Packets the filter accepted (libpcap ps_recv). */
  receivedByFilter: number;
  /** Packets the kernel dropped for lack of buffer space (ps_drop). */
  droppedByKernel: number;
  /** Drops by the interface (ps_ifdrop), when tcpdump reports them. */
  droppedByInterface: number;
}

export function tcpdumpArgs(
  o: Pick<CaptureOptions, 'device' | 'filter' | 'snaplen' | 'promiscuous' | 'bufferKiB' | 'immediate'>,
): string[] {
  return [
    '-i',
    o.device,
    '-s',
    String(o.snaplen),
    '-B',
    String(o.bufferKiB),
    '-U',
    ...(o.immediate === true ? ['--immediate-mode'] : []),
    ...(o.promiscuous ? [] : ['-p']),
    '-w',
    '-',
    '--',
    o.filter,
  ];
}

const SETPRIV = '/usr/bin/setpriv';

const ONE_LINE_STATS =
  /(\d+) packets? captured, (\d+) packets? received by filter, (\d+) packets? dropped by kernel(?:, (\d+) packets? dropped by interface)?/;
const LINE_STAT = /^(\d+) packets? (captured|received by filter|dropped by kernel|dropped by interface)$/;

/** Folds one stderr line of tcpdump into stats; returns true if it was a statistics line. */
export function parseStatsLine(line: string, stats: CaptureStats): boolean {
  const one = ONE_LINE_STATS.exec(line);
  if (one !== null) {
    stats.captured = Number(one[1]);
    stats.receivedByFilter = Number(one[2]);
    stats.droppedByKernel = Number(one[3]);
    if (one[4] !== undefined) stats.droppedByInterface = Number(one[4]);
    return true;
  }
  const m = LINE_STAT.exec(line.trim());
  if (m === null) return false;
  const n = Number(m[1]);
  if (m[2] === 'captured') stats.captured = n;
  else if (m[2] === 'received by filter') stats.receivedByFilter = n;
  else if (m[2] === 'dropped by kernel') stats.droppedByKernel = n;
  else stats.droppedByInterface = n;
  return true;
}

/**
 * tcpdump's environment: what it needs to run (PATH, locale, time zone) and nothing of the sniffer's, whose upload token
 * must not reach a process that parses every packet of the wire (a hostile packet that took it over would hold it).
 */
export function captureToolEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const kept: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'LANG', 'LC_ALL', 'TZ']) if (env[name] !== undefined) kept[name] = env[name];
  return kept;
}

export class Capture {
  readonly stats: CaptureStats = { captured: 0, receivedByFilter: 0, droppedByKernel: 0, droppedByInterface: 0 };
  /** Packets read from the pipe. */
  packets = 0;
  linktype: number | undefined;
  private child: ChildProcessByStdio<null, Readable, Readable> | null = null;
  private readonly parser = new CaptureParser();
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private stdoutEnded!: Promise<void>;
  private exited!: Promise<void>;
  private stopRequested = false;
  private broken = false;
  private lastError = '';
  private statsTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: CaptureOptions) {}

  /** Spawns tcpdump and resolves once it says it is listening (the filter is installed); rejects with its error. */
  start(): Promise<void> {
    const tcpdump = this.options.tcpdump ?? 'tcpdump';
    // setpriv execs tcpdump with PR_SET_PDEATHSIG: if the sniffer is killed outright, tcpdump goes with it instead
    // of capturing on as an orphan.
    const [cmd, args] = existsSync(SETPRIV)
      ? [SETPRIV, ['--pdeathsig', 'KILL', '--', tcpdump, ...tcpdumpArgs(this.options)]]
      : [tcpdump, tcpdumpArgs(this.options)];
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: captureToolEnvironment(process.env) });
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve();
      });
    });
    this.stdoutEnded = new Promise((resolve) => {
      let bytes = 0;
      child.stdout.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        this.feed(chunk);
      });
      child.stdout.once('end', () => {
        this.parser.end();
        // tcpdump that failed before capturing wrote nothing: not a format error.
        if (bytes > 0) this.drainParser();
        resolve();
      });
    });
    return new Promise((resolve, reject) => {
      let ready = false;
      let pendingLine = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (text: string) => {
        const lines = (pendingLine + text).split('\n');
        pendingLine = lines.pop() ?? '';
        for (const line of lines) {
          if (line.trim() === '') continue;
          if (parseStatsLine(line, this.stats)) continue;
          if (!ready && /listening on /.test(line)) {
            ready = true;
            resolve();
          } else {
            this.lastError = line.replace(/^tcpdump: /, '');
          }
          this.options.onMessage?.(line);
        }
      });
      child.once('error', (err) => reject(new Error(`cannot run tcpdump: ${err.message}`)));
      void this.exited.then(() => {
        if (!ready) reject(new Error(this.lastError || `tcpdump exited with ${this.describeExit()} before listening`));
      });
    });
  }

  private feed(chunk: Buffer): void {
    this.parser.push(chunk);
    this.drainParser();
  }

  private drainParser(): void {
    if (this.broken) return;
    try {
      const parser = this.parser;
      const onRecord = this.options.onRecord;
      for (let r = parser.nextRecord(); r !== null; r = parser.nextRecord()) {
        this.packets++;
        this.linktype = r.linktype;
        onRecord(r, parser.counters.format === 'pcap');
      }
    } catch (err) {
      // Cannot happen with tcpdump's own output; if it does, the capture is unusable: stop it and say why.
      this.broken = true;
      this.lastError = `unreadable pcap stream from tcpdump: ${(err as Error).message}`;
      this.child?.kill('SIGTERM');
    }
  }

  describeExit(): string {
    if (this.exitInfo === null) return 'still running';
    return this.exitInfo.signal !== null ? `signal ${this.exitInfo.signal}` : `code ${this.exitInfo.code}`;
  }

  get error(): string {
    return this.lastError;
  }

  /** Asks tcpdump for its statistics every intervalMs (SIGUSR1). */
  pollStats(intervalMs: number): void {
    this.statsTimer = setInterval(() => {
      if (this.child !== null && this.exitInfo === null) this.child.kill('SIGUSR1');
    }, intervalMs);
    this.statsTimer.unref();
  }

  /** Resolves when tcpdump exits by itself (not after stop()): the capture died. */
  async died(): Promise<string> {
    await this.exited;
    await this.stdoutEnded;
    if (this.broken) return this.lastError;
    return this.stopRequested ? '' : this.lastError || `tcpdump exited with ${this.describeExit()}`;
  }

  get stopping(): boolean {
    return this.stopRequested;
  }

  /** SIGTERM to tcpdump; resolves after every packet it wrote has been handed to onRecord and it has exited. */
  async stop(timeoutMs = 5000): Promise<void> {
    this.stopRequested = true;
    if (this.statsTimer !== null) clearInterval(this.statsTimer);
    const child = this.child;
    if (child === null) return;
    if (this.exitInfo === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    await this.stdoutEnded;
    clearTimeout(timer);
  }
}
