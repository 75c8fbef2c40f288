// Sends spooled batches to splitcap with a pool of K concurrent uploads. Oldest batches go first. What each answer
// means is the upload contract's (lib/src/upload/batch-upload.ts): done deletes the batch; reject moves it to
// rejected/ and counts it; retry (and a network error or timeout) closes a shared gate for a jittered exponential
// backoff (or the server's Retry-After if longer), so that K workers do not hammer a splitcap that is down; the
// first success opens it again.
import { readFile } from 'node:fs/promises';
import type { Agent as HttpsAgent } from 'node:https';
import { type BackoffPolicy, retryWait } from '@fleetcap/lib/runtime/backoff';
import {
  batchesUrl,
  parseRetryAfter,
  senderAction,
  UPLOAD_HEADERS,
  uploadHeaders,
} from '@fleetcap/lib/upload/batch-upload';
import { isUntrustedCertificate } from '@fleetcap/lib/upload/transport';
import { httpPost, type PostResult } from './http-post.ts';
import type { Spool, SpoolEntry } from './spool.ts';

export interface UploaderOptions {
  url: string;
  agentId: string;
  /** The upload token, read at every attempt (a rotated token is used from the next attempt on). */
  token: string | (() => string);
  concurrency: number;
  backoff: BackoffPolicy;
  /** Longest wait between attempts, even when Retry-After asks for more. */
  maxWaitMs: number;
  requestTimeoutMs: number;
  onEvent?: (event: UploadEvent) => void;
  post?: typeof httpPost;
  /** For https:// URLs: an agent trusting FLEETCAP_SPLITCAP_CA_FILE (default: the system's CAs). */
  tlsAgent?: HttpsAgent;
}

export type UploadEvent =
  | { kind: 'uploaded'; entry: SpoolEntry; status: number; ms: number }
  | { kind: 'rejected'; entry: SpoolEntry; status: number; body: string }
  | { kind: 'gone'; entry: SpoolEntry; error: string }
  | {
      kind: 'retry';
      entry: SpoolEntry;
      error: string;
      waitMs: number;
      failures: number;
      untrusted: boolean;
      unauthorized: boolean;
    };

export interface UploaderCounters {
  batchesUploaded: number;
  packetsUploaded: number;
  bytesUploaded: number;
  uploadFailures: number;
  /** Attempts that failed because splitcap's certificate is not one the agent trusts (kept and retried). */
  untrustedCertificates: number;
  /** Attempts splitcap answered 401 (kept and retried: a token rotation must not discard batches). */
  unauthorized: number;
  rejected: number;
}

type Outcome =
  | { kind: 'ok'; status: number }
  | { kind: 'final'; status: number; body: string }
  | { kind: 'gone'; error: string }
  | { kind: 'retry'; error: string; retryAfterMs?: number; untrusted?: boolean; unauthorized?: boolean };

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export class Uploader {
  readonly counters: UploaderCounters = {
    batchesUploaded: 0,
    packetsUploaded: 0,
    bytesUploaded: 0,
    uploadFailures: 0,
    untrustedCertificates: 0,
    unauthorized: 0,
    rejected: 0,
  };
  private stopping = false;
  private readonly shutdown = new AbortController();
  private readonly workers: Promise<void>[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();
  private wakers: Array<() => void> = [];
  private gateUntil = 0;
  private consecutiveFailures = 0;
  private readonly endpoint: URL;
  private readonly post: typeof httpPost;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly spool: Spool,
    private readonly options: UploaderOptions,
  ) {
    this.endpoint = new URL(batchesUrl(options.url));
    this.post = options.post ?? httpPost;
  }

  start(): void {
    this.unsubscribe = this.spool.onAdd(() => this.wakeAll());
    for (let i = 0; i < this.options.concurrency; i++) this.workers.push(this.work());
  }

  /** Uploads in flight now. */
  get active(): number {
    return this.inFlight.size;
  }

  private wakeAll(): void {
    const w = this.wakers;
    this.wakers = [];
    for (const fn of w) fn();
  }

  /** Resolves after ms, or at once when woken (new batch, stop). */
  private sleep(ms: number | null): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const done = () => {
        if (timer !== null) clearTimeout(timer);
        resolve();
      };
      this.wakers.push(done);
      if (ms !== null) timer = setTimeout(done, ms);
    });
  }

  private async work(): Promise<void> {
    while (!this.stopping) {
      const now = Date.now();
      if (now < this.gateUntil) {
        await this.sleep(this.gateUntil - now);
        continue;
      }
      const entry = this.spool.claim();
      if (entry === null) {
        await this.sleep(null);
        continue;
      }
      const attempt = this.attempt(entry);
      this.inFlight.add(attempt);
      const outcome = await attempt;
      this.inFlight.delete(attempt);
      this.settle(entry, outcome);
    }
  }

  private settle(entry: SpoolEntry, outcome: Outcome): void {
    if (outcome.kind === 'ok') {
      this.consecutiveFailures = 0;
      this.gateUntil = 0;
      this.spool.remove(entry);
      this.counters.batchesUploaded++;
      this.counters.packetsUploaded += entry.packets;
      this.counters.bytesUploaded += entry.bytes;
      this.wakeAll();
      return;
    }
    if (outcome.kind === 'gone') {
      this.spool.remove(entry);
      this.options.onEvent?.({ kind: 'gone', entry, error: outcome.error });
      return;
    }
    if (outcome.kind === 'final') {
      this.counters.rejected++;
      this.spool.reject(entry);
      this.options.onEvent?.({ kind: 'rejected', entry, status: outcome.status, body: outcome.body });
      return;
    }
    this.counters.uploadFailures++;
    if (outcome.untrusted) this.counters.untrustedCertificates++;
    if (outcome.unauthorized) this.counters.unauthorized++;
    this.spool.release(entry);
    if (this.stopping) return;
    this.consecutiveFailures++;
    const waitMs = retryWait(
      this.consecutiveFailures,
      this.options.backoff,
      outcome.retryAfterMs,
      this.options.maxWaitMs,
    );
    this.gateUntil = Math.max(this.gateUntil, Date.now() + waitMs);
    this.options.onEvent?.({
      kind: 'retry',
      entry,
      error: outcome.error,
      waitMs,
      failures: this.consecutiveFailures,
      untrusted: outcome.untrusted === true,
      unauthorized: outcome.unauthorized === true,
    });
  }

  private async attempt(entry: SpoolEntry): Promise<Outcome> {
    const started = Date.now();
    let body: Buffer;
    try {
      body = entry.data ?? (await readFile(entry.path));
    } catch (err) {
      // Deleted under us (an operator, or a disk problem): nothing to send.
      return { kind: 'gone', error: (err as Error).message };
    }
    const token = typeof this.options.token === 'function' ? this.options.token() : this.options.token;
    const headers = uploadHeaders(this.options.agentId, token, entry.id);
    try {
      const res: PostResult = await this.post(
        this.endpoint,
        headers,
        body,
        this.options.requestTimeoutMs,
        this.shutdown.signal,
        ...(this.options.tlsAgent ? [this.options.tlsAgent] : []),
      );
      const text = res.body;
      const action = senderAction(res.status);
      if (action === 'done') {
        this.options.onEvent?.({ kind: 'uploaded', entry, status: res.status, ms: Date.now() - started });
        return { kind: 'ok', status: res.status };
      }
      // 401 is final for a one-off upload, not for an agent: its credential may have been rotated between the
      // batch's capture and now, and the batch is still good. Kept, retried with backoff, counted and logged.
      if (res.status === 401)
        return { kind: 'retry', error: `HTTP 401${text ? `: ${text.slice(0, 200).trim()}` : ''}`, unauthorized: true };
      if (action === 'reject') return { kind: 'final', status: res.status, body: text.slice(0, 500) };
      return {
        kind: 'retry',
        error: `HTTP ${res.status}${text ? `: ${text.slice(0, 200).trim()}` : ''}`,
        retryAfterMs: parseRetryAfter(headerValue(res.headers[UPLOAD_HEADERS.retryAfter])),
      };
    } catch (err) {
      const e = err as Error & { code?: string };
      const error = e.code !== undefined ? `${e.code}: ${e.message}` : `${e.name}: ${e.message}`;
      // Not splitcap: a certificate the agent does not trust could be anyone's. The batch stays and is retried (a
      // CA file put right resumes the uploads); the log and the counter say why.
      return { kind: 'retry', error, untrusted: isUntrustedCertificate(err) };
    }
  }

  /**
   * Starts no new upload; waits up to drainMs for the uploads in flight, then aborts what is left (those batches
   * stay in the spool; splitcap deduplicates by batch id if one did arrive).
   */
  async stop(drainMs: number): Promise<{ drained: boolean }> {
    this.stopping = true;
    this.unsubscribe?.();
    this.wakeAll();
    const all = Promise.all(this.workers).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), drainMs);
    });
    const drained = await Promise.race([all, timeout]);
    clearTimeout(timer);
    if (!drained) {
      this.shutdown.abort(new Error('sniffer stopping: drain time is over'));
      await all;
    }
    return { drained };
  }
}
