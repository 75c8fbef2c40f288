// The spool: closed batches wait here as pcap files until splitcap has them. Bounded in bytes: when a new batch
// does not fit, the oldest batches that are not being uploaded right now are deleted first, and every drop is
// counted. Batches survive the sniffer: the next sniffer on the same spool folder uploads what was left.
//
// File names: <batchId>.n<packets>.pcap, where batchId = <ms since epoch, 13 digits>-<pid>-<seq>-<random> sorts by
// age. A batch is written to a .tmp name and renamed, so a half-written file is never uploaded. Batches splitcap
// refuses for good (400/401/413) move to rejected/, which keeps the newest `rejectedKeep` files.
//
// writeOnAdd false (the sniffer's FLEETCAP_SPOOL_WRITE=on-failure): a batch that fits the memory bound is written
// only when it needs to outlive its first attempt: its upload fails, splitcap rejects it, or the sniffer exits with it
// unsent (persistAll). In a healthy pipeline no batch file is written at all (issue 20: the file write, rename and
// unlink were a large part of the per-batch cost); a crash (SIGKILL, OOM) loses the batches held only in memory, at
// most memoryMaxBytes, as it already loses the open batch.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SpoolEntry {
  readonly id: string;
  readonly path: string;
  readonly bytes: number;
  readonly packets: number;
  /** True while an upload of this batch is in flight: such a batch is never dropped. */
  uploading: boolean;
  /** Failed upload attempts so far. */
  attempts: number;
  /**
   * The file's bytes, kept from add() while the spool's memory bound allows: the upload sends them without reading
   * the file back (a read costs the sniffer more CPU per batch than writing it). Undefined: read the file.
   */
  data?: Buffer;
  /** False while the batch is held only in memory (writeOnAdd false): no file yet. */
  onDisk: boolean;
}

export interface SpoolCounters {
  /** Batches waiting in the spool now. */
  spooled: number;
  spooledBytes: number;
  spooledPackets: number;
  /** Batches (and their packets) deleted to keep the spool under its bound, since this process started. */
  droppedBatches: number;
  droppedPackets: number;
  rejectedBatches: number;
  /** Bytes of spooled batches also held in memory for their upload. */
  memoryBytes: number;
  /** Batches held only in memory now (no file written yet). */
  memoryOnly: number;
}

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  rejectedKeep?: number;
  /** Bytes of batch files also kept in memory for their upload (SpoolEntry.data); default 8 MiB, 0: none. */
  memoryMaxBytes?: number;
  onDrop?: (entry: SpoolEntry, why: string) => void;
  /**
   * true (default): every batch is written to its file in add(). false: a batch kept in memory is written only when
   * it must outlive its first upload attempt (release, reject, persistAll).
   */
  writeOnAdd?: boolean;
  /** A batch held in memory could not be written to its file (it stays in memory). */
  onWriteError?: (entry: SpoolEntry, err: Error) => void;
}

const FILE_RE = /^(\d{13}-\d+-\d+-[0-9a-f]+)\.n(\d+)\.pcap$/;

export function batchFileName(id: string, packets: number): string {
  return `${id}.n${packets}.pcap`;
}

export class Spool {
  /** Oldest first. */
  private readonly entries: SpoolEntry[] = [];
  private seq = 0;
  private bytes = 0;
  private packets = 0;
  /** Bytes held in SpoolEntry.data. */
  private memoryBytes = 0;
  private readonly memoryMaxBytes: number;
  droppedBatches = 0;
  droppedPackets = 0;
  rejectedBatches = 0;
  private readonly rejectedDir: string;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly options: SpoolOptions,
    scanNow = true,
  ) {
    if (options.maxBytes < 1) throw new Error('spool maxBytes must be positive');
    this.memoryMaxBytes = options.memoryMaxBytes ?? 8 * 1024 * 1024;
    this.rejectedDir = join(options.dir, 'rejected');
    mkdirSync(this.rejectedDir, { recursive: true });
    if (scanNow) this.scan();
  }

  /**
   * Adopts batches left by an earlier sniffer (ids this spool does not know yet) and deletes half-written .tmp
   * files. Returns how many batches were adopted. Call it only when no other sniffer uses the folder.
   */
  scan(): number {
    const known = new Set(this.entries.map((e) => e.id));
    const found: SpoolEntry[] = [];
    for (const name of readdirSync(this.options.dir)) {
      const path = join(this.options.dir, name);
      if (name.endsWith('.tmp')) {
        rmSync(path, { force: true });
        continue;
      }
      const m = FILE_RE.exec(name);
      if (m === null || known.has(m[1]!)) continue;
      let bytes: number;
      try {
        bytes = statSync(path).size;
      } catch {
        continue;
      }
      found.push({ id: m[1]!, path, bytes, packets: Number(m[2]), uploading: false, attempts: 0, onDisk: true });
    }
    for (const e of found) this.push(e);
    this.entries.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.enforceBound(0);
    if (found.length > 0) for (const l of this.listeners) l();
    return found.length;
  }

  private push(e: SpoolEntry): void {
    this.entries.push(e);
    this.bytes += e.bytes;
    this.packets += e.packets;
  }

  private unlink(e: SpoolEntry): void {
    const i = this.entries.indexOf(e);
    if (i < 0) return;
    this.entries.splice(i, 1);
    this.bytes -= e.bytes;
    this.packets -= e.packets;
    if (e.data !== undefined) {
      this.memoryBytes -= e.data.length;
      e.data = undefined;
    }
  }

  newBatchId(now = Date.now()): string {
    this.seq++;
    return `${String(now).padStart(13, '0')}-${process.pid}-${String(this.seq).padStart(9, '0')}-${randomBytes(3).toString('hex')}`;
  }

  /**
   * Stores a closed batch. Makes room first by dropping the oldest batches not in flight; a batch larger than the
   * whole bound is itself dropped (and counted). Returns the entry, or null if it was dropped.
   */
  add(file: Buffer, packets: number, now = Date.now()): SpoolEntry | null {
    const id = this.newBatchId(now);
    const path = join(this.options.dir, batchFileName(id, packets));
    const entry: SpoolEntry = { id, path, bytes: file.length, packets, uploading: false, attempts: 0, onDisk: false };
    if (file.length > this.options.maxBytes) {
      this.countDrop(entry, `batch of ${file.length} bytes is larger than the spool bound ${this.options.maxBytes}`);
      return null;
    }
    this.enforceBound(file.length);
    if (this.bytes + file.length > this.options.maxBytes) {
      this.countDrop(entry, 'spool full of batches in flight');
      return null;
    }
    const inMemory = this.memoryBytes + file.length <= this.memoryMaxBytes;
    if (inMemory) {
      entry.data = file;
      this.memoryBytes += file.length;
    }
    if (!inMemory || this.options.writeOnAdd !== false) this.writeFile(entry, file);
    this.push(entry);
    for (const l of this.listeners) l();
    return entry;
  }

  /** Written to a .tmp name and renamed, so that a half-written file is never uploaded. */
  private writeFile(e: SpoolEntry, file: Buffer): void {
    writeFileSync(`${e.path}.tmp`, file);
    renameSync(`${e.path}.tmp`, e.path);
    e.onDisk = true;
  }

  /**
   * Writes a batch held only in memory to its file (it must outlive this process or its first attempt). A write that
   * fails (disk full, folder gone) leaves the batch in memory, still retried from there: returns false.
   */
  persist(e: SpoolEntry): boolean {
    if (e.onDisk || e.data === undefined || !this.entries.includes(e)) return true;
    try {
      this.writeFile(e, e.data);
      return true;
    } catch (err) {
      rmSync(`${e.path}.tmp`, { force: true });
      this.options.onWriteError?.(e, err as Error);
      return false;
    }
  }

  /** Writes every batch held only in memory (the sniffer exits with them unsent); returns how many. */
  persistAll(): number {
    let n = 0;
    for (const e of this.entries) if (!e.onDisk && this.persist(e)) n++;
    return n;
  }

  private deleteFile(e: SpoolEntry): void {
    if (e.onDisk) rmSync(e.path, { force: true });
  }

  private enforceBound(incoming: number): void {
    let i = 0;
    while (this.bytes + incoming > this.options.maxBytes && i < this.entries.length) {
      const e = this.entries[i]!;
      if (e.uploading) {
        i++;
        continue;
      }
      this.unlink(e);
      this.deleteFile(e);
      this.countDrop(e, 'spool full: oldest batch dropped');
    }
  }

  private countDrop(e: SpoolEntry, why: string): void {
    this.droppedBatches++;
    this.droppedPackets += e.packets;
    this.options.onDrop?.(e, why);
  }

  /** Oldest batch not being uploaded, marked as uploading; null when there is none. */
  claim(): SpoolEntry | null {
    for (const e of this.entries) {
      if (!e.uploading) {
        e.uploading = true;
        return e;
      }
    }
    return null;
  }

  /** Gives a batch back after a failed attempt: it is again the oldest candidate (and droppable). */
  release(e: SpoolEntry): void {
    this.persist(e);
    e.uploading = false;
    e.attempts++;
  }

  /** splitcap has the batch. */
  remove(e: SpoolEntry): void {
    this.unlink(e);
    this.deleteFile(e);
  }

  /** splitcap refused the batch for good: keep it for a human under rejected/, never retry it. */
  reject(e: SpoolEntry): void {
    this.persist(e);
    this.unlink(e);
    this.rejectedBatches++;
    try {
      renameSync(e.path, join(this.rejectedDir, batchFileName(e.id, e.packets)));
    } catch {
      rmSync(e.path, { force: true });
    }
    const keep = this.options.rejectedKeep ?? 100;
    const names = readdirSync(this.rejectedDir).sort();
    for (const name of names.slice(0, Math.max(0, names.length - keep)))
      rmSync(join(this.rejectedDir, name), { force: true });
  }

  has(e: SpoolEntry): boolean {
    return this.entries.includes(e);
  }

  get size(): number {
    return this.entries.length;
  }

  /** Batches that could be claimed now. */
  get claimable(): number {
    let n = 0;
    for (const e of this.entries) if (!e.uploading) n++;
    return n;
  }

  /** Called whenever a batch is added. */
  onAdd(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  counters(): SpoolCounters {
    return {
      spooled: this.entries.length,
      spooledBytes: this.bytes,
      spooledPackets: this.packets,
      droppedBatches: this.droppedBatches,
      droppedPackets: this.droppedPackets,
      rejectedBatches: this.rejectedBatches,
      memoryBytes: this.memoryBytes,
      memoryOnly: this.entries.filter((e) => !e.onDisk).length,
    };
  }
}
