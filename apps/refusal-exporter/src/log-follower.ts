// Follows a log file another process appends to, as `tail -F` does: starts at its end (the lines written before are
// history, counted by the exporter that ran then), hands over every complete line written after, and carries on
// across rotation (a new file at the path: the rest of the old one is read first) and truncation (read from 0).
// Polling, not fs.watch: it works the same on every file system, a missing file is just "not there yet", and a poll
// every half second is cheap (one stat).
import { type FileHandle, open, stat } from 'node:fs/promises';

export interface FollowerEvents {
  line: (line: string) => void;
  /** A line longer than maxLineBytes: its first maxLineBytes are handed over, the rest dropped. */
  truncated?: (bytes: number) => void;
  /** The file appeared, went away, or could not be read (error set). */
  state?: (readable: boolean, error?: Error) => void;
}

export interface FollowerOptions {
  maxLineBytes?: number;
  /** Start at the file's beginning instead of its end (tests, a file the exporter made itself). */
  fromStart?: boolean;
}

export class LogFollower {
  private handle: FileHandle | null = null;
  private inode = -1;
  private offset = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private dropping = 0;
  private readable: boolean | null = null;
  private first = true;
  private readonly maxLineBytes: number;
  private readonly buffer = Buffer.allocUnsafe(64 * 1024);

  constructor(
    readonly path: string,
    private readonly events: FollowerEvents,
    private readonly options: FollowerOptions = {},
  ) {
    this.maxLineBytes = options.maxLineBytes ?? 64 * 1024;
  }

  /** Reads what was appended since the last poll; call it on a timer. Never throws for the file's sake. */
  async poll(): Promise<void> {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(this.path);
    } catch (err) {
      // Gone (or not yet there): finish the old file if one is open, then wait for a new one.
      if (this.handle) await this.drain();
      await this.close();
      this.first = false;
      this.setReadable(false, (err as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : (err as Error));
      return;
    }
    try {
      if (this.handle && info.ino !== this.inode) {
        await this.drain(); // rotated: the rest of the old file, then the new one from its start
        await this.close();
      }
      if (!this.handle) {
        this.handle = await open(this.path, 'r');
        this.inode = info.ino;
        this.offset = this.first && !this.options.fromStart ? info.size : 0;
        this.first = false;
      }
      if (info.size < this.offset) {
        this.offset = 0; // truncated in place
        this.pending = [];
        this.pendingBytes = 0;
      }
      this.setReadable(true);
      await this.drain();
    } catch (err) {
      await this.close();
      this.setReadable(false, err as Error);
    }
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    await h?.close().catch(() => {});
  }

  private setReadable(readable: boolean, error?: Error): void {
    if (this.readable === readable && error === undefined) return;
    this.readable = readable;
    this.events.state?.(readable, error);
  }

  private async drain(): Promise<void> {
    const h = this.handle;
    if (!h) return;
    for (;;) {
      const { bytesRead } = await h.read(this.buffer, 0, this.buffer.length, this.offset);
      if (bytesRead === 0) return;
      this.offset += bytesRead;
      this.split(this.buffer.subarray(0, bytesRead));
    }
  }

  private split(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
      this.append(chunk.subarray(start, nl));
      const line = Buffer.concat(this.pending, this.pendingBytes).toString('utf8');
      if (this.dropping > 0) this.events.truncated?.(this.dropping + this.maxLineBytes);
      this.pending = [];
      this.pendingBytes = 0;
      this.dropping = 0;
      this.events.line(line.endsWith('\r') ? line.slice(0, -1) : line);
      start = nl + 1;
    }
    this.append(chunk.subarray(start));
  }

  /** Keeps at most maxLineBytes of the line being read (a copy: the read buffer is reused). */
  private append(part: Buffer): void {
    const room = this.maxLineBytes - this.pendingBytes;
    if (part.length > room) {
      this.dropping += part.length - Math.max(room, 0);
      part = part.subarray(0, Math.max(room, 0));
    }
    if (part.length === 0) return;
    this.pending.push(Buffer.from(part));
    this.pendingBytes += part.length;
  }
}
