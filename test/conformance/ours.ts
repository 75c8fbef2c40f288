// Runs `fleetcap sessions --json` over many capture files in one child process, with a per-file watchdog (no file
// may take longer than the limit: a hang fails the test with the file's name) and the child's peak resident memory.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface OurSession {
  type: 'session';
  file: string;
  proto: 'tcp' | 'udp';
  src: string;
  sport: number;
  dst: string;
  dport: number;
  packets: number;
  bytes: number;
  first: number;
  last: number;
}

export interface OurSummary {
  type: 'summary';
  file: string;
  format: string | null;
  linktypes: number[];
  read: number;
  decoded: number;
  skipped: Record<string, number>;
  otherTransport: Record<string, number>;
  sessions: number;
  truncatedAtEnd: number;
  caplenOverSnaplen: number;
  invalidTimestamps: number;
  error?: { message: string; offset?: number };
}

export interface OurFileResult {
  sessions: OurSession[];
  summary: OurSummary;
}

export interface OurRun {
  results: Map<string, OurFileResult>;
  exitCode: number | null;
  stderr: string;
  peakRssKiB: number;
}

function peakRss(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const line = status.split('\n').find((l) => l.startsWith('VmHWM:'));
    return line ? Number.parseInt(line.slice(6), 10) : 0;
  } catch {
    return 0;
  }
}

export function runOurs(repoRoot: string, files: string[], perFileTimeoutMs: number, heapLimitMiB: number) {
  return new Promise<OurRun>((resolve, reject) => {
    // --any-time: tshark keeps every capture time (the tcpdump test files hold 1970 and 2100 times), and the
    // comparison is about sessionizing; the time window is a pipeline policy, tested on its own.
    const child = spawn(
      process.execPath,
      [
        `--max-old-space-size=${heapLimitMiB}`,
        join(repoRoot, 'cli/bin/fleetcap.mjs'),
        'sessions',
        '--json',
        '--any-time',
        ...files,
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const results = new Map<string, OurFileResult>();
    let pending: OurSession[] = [];
    let stdoutTail = '';
    let stderr = '';
    let peakRssKiB = 0;
    let watchdog: NodeJS.Timeout | undefined;
    let failure: Error | undefined;
    const armWatchdog = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        const stuck = files[results.size] ?? '(after the last file)';
        failure = new Error(`fleetcap sessions spent more than ${perFileTimeoutMs} ms on ${stuck}`);
        child.kill('SIGKILL');
      }, perFileTimeoutMs);
    };
    const sampler = setInterval(() => {
      if (child.pid) peakRssKiB = Math.max(peakRssKiB, peakRss(child.pid));
    }, 25);
    armWatchdog();
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (stdoutTail + chunk).split('\n');
      stdoutTail = lines.pop() ?? '';
      for (const line of lines) {
        if (line === '') continue;
        const record = JSON.parse(line) as OurSession | OurSummary;
        if (record.type === 'session') pending.push(record);
        else {
          results.set(record.file, { sessions: pending, summary: record });
          pending = [];
          armWatchdog();
        }
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (exitCode) => {
      clearTimeout(watchdog);
      clearInterval(sampler);
      if (failure) reject(failure);
      else resolve({ results, exitCode, stderr, peakRssKiB });
    });
  });
}
