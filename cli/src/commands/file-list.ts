// The capture files of `fleetcap sessions` and `fleetcap classify`: the arguments, and the lines of
// `--files-from FILE|-` (one path a line, `-` = stdin), so that any number of files can be given.
//
// And the way round an onnxruntime-node 1.30.0 crash: its session creation reads /proc/self/cmdline and walks it
// with a recursion whose depth grows with the command line's length; at about 29 KB of arguments (600 paths of 48
// characters: `fleetcap classify dir/*.pcap`) it overflows the 8 MiB main stack and the process dies with SIGSEGV
// before it reads a file (measured: 28,906 characters load, 28,945 crash; `ulimit -s 16384` moves the limit; in a
// worker thread, whose stack is smaller and whose /proc/self/cmdline is the same, it crashes as well). So a
// command that loads the model with a long command line runs itself again with a short one and the list on stdin.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Longer command lines re-run the command with the list on stdin; far below the crash, for smaller stacks. */
export const SAFE_COMMAND_LINE_BYTES = 2048;

export class FileListError extends Error {
  override name = 'FileListError';
}

/** The paths of a list: one per line (LF or CRLF); blank lines are skipped, other whitespace is kept. */
export function parseFileList(text: string): string[] {
  return text
    .split('\n')
    .map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line))
    .filter((line) => line.trim() !== '');
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The arguments, then the files of `filesFrom` (a file, or `-` for stdin). At least one file, or FileListError. */
export async function captureFiles(
  args: readonly string[],
  filesFrom: string | undefined,
  stdin: () => Promise<string> = readStdin,
): Promise<string[]> {
  const files = [...args];
  if (filesFrom !== undefined) {
    let text: string;
    try {
      text = filesFrom === '-' ? await stdin() : readFileSync(filesFrom, 'utf8');
    } catch (err) {
      throw new FileListError(`cannot read the file list ${filesFrom}: ${(err as Error).message}`);
    }
    files.push(...parseFileList(text));
  }
  if (files.length === 0)
    throw new FileListError(
      'no capture files: give them as arguments or list them with --files-from FILE (- for stdin)',
    );
  return files;
}

/** The length of this process's command line as the kernel shows it (what onnxruntime reads). */
export function commandLineBytes(): number {
  try {
    return readFileSync('/proc/self/cmdline').length;
  } catch {
    return [process.execPath, ...process.execArgv, ...process.argv.slice(1)].reduce((n, a) => n + a.length + 1, 0);
  }
}

/**
 * Runs this same program again as `<command> <options> --files-from -` with `files` on its stdin, its output and
 * errors passed through; resolves with its exit code (128 + signal number for a signal, as a shell reports it).
 */
export function rerunWithFileList(
  command: string,
  options: readonly string[],
  files: readonly string[],
): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [...process.execArgv, process.argv[1]!, command, ...options, '--files-from', '-'],
      { stdio: ['pipe', 'inherit', 'inherit'] },
    );
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code !== null) resolve(code);
      else resolve(128 + (signal ? (SIGNAL_NUMBERS[signal] ?? 1) : 1));
    });
    child.stdin.on('error', () => {
      // The child stopped reading (it failed early): its exit code says why.
    });
    child.stdin.end(`${files.join('\n')}\n`);
  });
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15 };
