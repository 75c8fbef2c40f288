// One sniffer run: capture → batcher → spool → uploader, with the counters the listener publishes.
import { composeFilter } from '@fleetcap/lib/agent/filter';
import type { SnifferCounters } from '@fleetcap/lib/agent/ipc';
import type { Logger } from '@fleetcap/lib/telemetry/logger';
import { Batcher } from './batcher.ts';
import { Capture } from './capture.ts';
import { httpsAgentFor } from './http-post.ts';
import type { SnifferOptions } from './options.ts';
import { Spool } from './spool.ts';
import { Uploader } from './uploader.ts';

export class Sniffer {
  readonly filter: string;
  readonly spool: Spool;
  readonly uploader: Uploader;
  readonly capture: Capture;
  private readonly batcher: Batcher;
  private stopped: Promise<{ drained: boolean }> | null = null;
  /** Capture-time window this sniffer keeps, in µs since the epoch: [notBeforeUs, cutAtUs). */
  private notBeforeUs = 0;
  private cutAtUs = Number.POSITIVE_INFINITY;
  /** Packets kept (in the window). */
  accepted = 0;
  /** Packets tcpdump captured outside the window (the other sniffer of a hand-over has them). */
  outsideWindow = 0;
  /** When tcpdump reported that it captures (ms since the epoch). */
  capturingSinceMs = 0;

  constructor(
    private readonly options: SnifferOptions,
    private readonly log: Logger,
  ) {
    const c = options.config;
    this.filter = composeFilter(c.bpfFilter, c.splitcapUrl);
    this.spool = new Spool(
      {
        dir: options.spoolDir,
        maxBytes: options.spoolMaxBytes,
        writeOnAdd: options.spoolWriteOnAdd,
        onWriteError: (e, err) =>
          log.error(
            { code: 'sniffer.spool.write-failed', batch: e.id, packets: e.packets, error: err.message },
            'could not write a batch to the spool folder; it stays in memory and is retried from there (lost if the sniffer exits before it is uploaded)',
          ),
        onDrop: (e, why) => log.warn({ batch: e.id, packets: e.packets, bytes: e.bytes }, `batch dropped: ${why}`),
      },
      !options.deferScan,
    );
    if (this.spool.size > 0)
      log.info(
        { batches: this.spool.size, dir: options.spoolDir },
        'spool holds batches from an earlier run; uploading them',
      );
    this.uploader = new Uploader(this.spool, {
      url: c.splitcapUrl,
      agentId: c.agentId,
      token: options.token,
      concurrency: c.uploadConcurrency,
      backoff: { baseMs: options.backoffBaseMs, maxMs: options.backoffMaxMs },
      maxWaitMs: Math.max(options.backoffMaxMs, 1000),
      requestTimeoutMs: options.uploadTimeoutMs,
      ...(options.splitcapCa ? { tlsAgent: httpsAgentFor(options.splitcapCa) } : {}),
      onEvent: (ev) => {
        if (ev.kind === 'uploaded')
          log.debug({ batch: ev.entry.id, packets: ev.entry.packets, ms: ev.ms }, 'batch uploaded');
        else if (ev.kind === 'rejected')
          log.error(
            { batch: ev.entry.id, status: ev.status, body: ev.body },
            'splitcap refused the batch; moved to rejected/',
          );
        else if (ev.kind === 'gone') log.warn({ batch: ev.entry.id, error: ev.error }, 'spooled batch vanished');
        else if (ev.unauthorized)
          log.error(
            { code: 'sniffer.upload.unauthorized', batch: ev.entry.id, error: ev.error, waitMs: ev.waitMs },
            "splitcap refused this agent's credential (401, e.g. a token rotated meanwhile); the batch is kept and retried with the credential the sniffer has then",
          );
        else if (ev.untrusted)
          log.error(
            { code: 'sniffer.upload.untrusted-certificate', batch: ev.entry.id, error: ev.error, waitMs: ev.waitMs },
            `splitcap's certificate is not signed by the CA this agent trusts (${options.splitcapCaFile ?? 'the system CAs'}); nothing sent, the batch is kept and retried`,
          );
        else
          log.warn(
            { batch: ev.entry.id, error: ev.error, waitMs: ev.waitMs, failures: ev.failures },
            'upload failed; will retry',
          );
      },
    });
    this.batcher = new Batcher({
      maxPackets: c.batchPackets,
      maxMs: c.batchMs,
      maxBytes: Math.max(options.batchMaxBytes, 24 + 16 + c.snaplen),
      snaplen: c.snaplen,
      onBatch: (b) => {
        const entry = this.spool.add(b.file, b.packets);
        log.debug({ packets: b.packets, bytes: b.file.length, reason: b.reason, batch: entry?.id }, 'batch closed');
      },
    });
    this.capture = new Capture({
      device: c.device,
      filter: this.filter,
      snaplen: c.snaplen,
      promiscuous: options.promiscuous,
      bufferKiB: options.captureBufferKiB,
      immediate: options.immediate,
      tcpdump: options.tcpdump,
      onRecord: (p, classicPcap) => {
        // The hand-over window: packets before notBefore belong to the previous sniffer, from cutAt on to the next.
        const us = p.tsSec * 1_000_000 + Math.floor(p.tsNsec / 1000);
        if (us < this.notBeforeUs || us >= this.cutAtUs) {
          this.outsideWindow++;
          return;
        }
        this.accepted++;
        this.batcher.addRecord(p, classicPcap);
      },
      onMessage: (line) => log.info({ tcpdump: line }, 'tcpdump'),
    });
  }

  /**
   * Starts capturing. With `handOver`, packets captured before tcpdump said it is listening are dropped: the
   * previous sniffer keeps capturing until that moment (its cut-off) and has them.
   */
  async start(handOver = false): Promise<void> {
    this.uploader.start();
    await this.capture.start();
    this.capturingSinceMs = Date.now();
    if (handOver) this.notBeforeUs = this.capturingSinceMs * 1000;
    this.capture.pollStats(this.options.statsIntervalMs);
    this.log.info({ device: this.options.config.device, filter: this.filter }, 'capturing');
  }

  /** From this capture time on, packets belong to the next sniffer. */
  cutAt(ms: number): void {
    this.cutAtUs = Math.min(this.cutAtUs, ms * 1000);
  }

  counters(): SnifferCounters {
    const s = this.spool.counters();
    return {
      captured: this.accepted,
      kernelDrops: this.capture.stats.droppedByKernel,
      batchesUploaded: this.uploader.counters.batchesUploaded,
      spooled: s.spooled,
      spoolDropped: s.droppedBatches,
      spoolDroppedPackets: s.droppedPackets,
      rejected: s.rejectedBatches,
    };
  }

  /** Adopts what an earlier sniffer left in the spool (after it has exited). */
  rescan(): void {
    const n = this.spool.scan();
    if (n > 0) this.log.info({ batches: n }, 'adopted batches left in the spool by the previous sniffer');
  }

  /**
   * Stop capturing, close the open batch into the spool (then onCaptureStopped), let uploads in flight finish
   * (bounded). Idempotent.
   */
  stop(onCaptureStopped?: () => void | Promise<void>): Promise<{ drained: boolean }> {
    this.stopped ??= (async () => {
      await this.capture.stop();
      this.batcher.flush();
      await onCaptureStopped?.();
      const result = await this.uploader.stop(this.options.drainMs);
      const written = this.spool.persistAll();
      if (written > 0) this.log.info({ batches: written }, 'unsent batches written to the spool for the next sniffer');
      this.log.info({ ...this.counters(), drained: result.drained }, 'sniffer stopped');
      return result;
    })();
    return this.stopped;
  }
}
