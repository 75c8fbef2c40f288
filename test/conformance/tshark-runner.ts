// Runs tshark on a capture for the conformance tests and caches what it printed.
//
// tshark's output depends only on the file's bytes, tshark's version and our arguments; the tests run tshark on
// hundreds of files, so outputs are kept under the temp dir keyed by all three (FLEETCAP_TSHARK_CACHE=off disables
// it). A cold run takes a few minutes on two busy cores, a warm one seconds.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TsharkOutput {
  stdout: string;
  /** tshark exits non-zero on a cut-short last record and still prints every frame before it. */
  exitCode: number;
  stderr: string;
}

export interface TsharkRun {
  /** Names the cache folder, one per kind of run (the args are part of its key too). */
  cacheName: string;
  /** Everything but `-r FILE`, which comes first after them. */
  args: readonly string[];
  /** Arguments after `-r FILE` (e.g. `-z conv,tcp`). */
  trailingArgs?: readonly string[];
  maxBufferBytes: number;
}

const cacheDirs = new Map<string, string | null>();

function cacheDirFor(run: TsharkRun): string | null {
  const name = `${run.cacheName}\0${run.args.join(' ')}\0${(run.trailingArgs ?? []).join(' ')}`;
  if (cacheDirs.has(name)) return cacheDirs.get(name)!;
  let dir: string | null = null;
  if (process.env.FLEETCAP_TSHARK_CACHE !== 'off') {
    try {
      const version = execFileSync('tshark', ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
      const id = createHash('sha256').update(`${version}\0${name}`).digest('hex').slice(0, 16);
      dir = join(tmpdir(), `fleetcap-tshark-${run.cacheName}-cache`, id);
      mkdirSync(dir, { recursive: true });
    } catch {
      dir = null;
    }
  }
  cacheDirs.set(name, dir);
  return dir;
}

/** tshark's output for `file`, from the cache when this tshark already ran these arguments on these bytes. */
export async function runTsharkCached(run: TsharkRun, file: string, timeoutMs: number): Promise<TsharkOutput> {
  const dir = cacheDirFor(run);
  const cached = dir ? join(dir, `${createHash('sha256').update(readFileSync(file)).digest('hex')}.json`) : null;
  if (cached) {
    try {
      return JSON.parse(readFileSync(cached, 'utf8')) as TsharkOutput;
    } catch {
      // not cached yet
    }
  }
  const output = await execTshark(run, file, timeoutMs);
  if (cached) {
    writeFileSync(`${cached}.tmp`, JSON.stringify(output));
    renameSync(`${cached}.tmp`, cached);
  }
  return output;
}

function execTshark(run: TsharkRun, file: string, timeoutMs: number): Promise<TsharkOutput> {
  return new Promise((resolve, reject) => {
    execFile(
      'tshark',
      [...run.args, '-r', file, ...(run.trailingArgs ?? [])],
      { timeout: timeoutMs, maxBuffer: run.maxBufferBytes, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        if (error && (error.killed || error.signal)) {
          reject(new Error(`tshark on ${file} timed out or was killed (${error.signal ?? 'timeout'})`));
          return;
        }
        const exitCode = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ stdout, exitCode, stderr });
      },
    );
  });
}
