// Consumes the ready queue with a bounded prefetch and hands the processor batches that close by size
// or by time. Batches are processed one after another; messages that arrive meanwhile form the next.
// Reconnects by itself: deliveries of a lost channel are redelivered by RabbitMQ.

import { declareReadyQueues } from '@fleetcap/lib/queue/topology';
import amqp, { type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { BatchProcessor, Delivery } from './processor.ts';

export interface ConsumerSettings {
  amqpUrl: string;
  queuePrefix: string;
  prefetch: number;
  batchSize: number;
  batchMs: number;
  /** Batches processed at once: while one waits on forecast or MariaDB, the next is loaded. */
  concurrentBatches: number;
}

export class QueueConsumer {
  private connection: ChannelModel | undefined;
  private channel: ConfirmChannel | undefined;
  private consumerTag: string | undefined;
  private pending: Delivery[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private stopping = false;
  lastError = '';

  constructor(
    private readonly s: ConsumerSettings,
    private readonly processor: BatchProcessor,
    private readonly log: Logger,
  ) {}

  get connected(): boolean {
    return this.channel !== undefined;
  }

  async start(): Promise<void> {
    try {
      const connection = await amqp.connect(this.s.amqpUrl, { timeout: 3000 });
      const channel = await connection.createConfirmChannel();
      await channel.prefetch(this.s.prefetch);
      const queues = await declareReadyQueues(channel, this.s.queuePrefix);
      connection.on('error', (err: Error) => {
        this.lastError = err.message;
      });
      connection.on('close', () => {
        if (this.connection !== connection) return;
        this.connection = undefined;
        this.channel = undefined;
        this.pending = [];
        if (!this.stopping) {
          this.log.warn(
            { err: this.lastError },
            'RabbitMQ connection lost; reconnecting (unacked messages will be redelivered)',
          );
          setTimeout(() => void this.start(), 1000).unref();
        }
      });
      this.connection = connection;
      this.channel = channel;
      const { consumerTag } = await channel.consume(
        queues.ready,
        (msg) => msg && this.onMessage(channel, queues.dead, msg),
      );
      this.consumerTag = consumerTag;
      this.lastError = '';
      this.log.info({ queue: queues.ready, prefetch: this.s.prefetch }, 'consuming');
    } catch (err) {
      this.lastError = (err as Error).message;
      this.log.warn({ err: this.lastError }, 'cannot reach RabbitMQ; retrying in 2 s');
      if (!this.stopping) setTimeout(() => void this.start(), 2000).unref();
    }
  }

  private onMessage(channel: ConfirmChannel, deadQueue: string, msg: ConsumeMessage): void {
    const delivery: Delivery = {
      body: msg.content,
      ack: () => {
        // A channel that closed meanwhile has handed the message back to RabbitMQ already.
        if (this.channel === channel) channel.ack(msg);
      },
      deadLetter: async (reason: string) => {
        channel.sendToQueue(deadQueue, msg.content, {
          persistent: true,
          headers: { 'x-fleetcap-reason': reason, 'x-fleetcap-dead-at': new Date().toISOString() },
        });
        await channel.waitForConfirms();
        if (this.channel === channel) channel.ack(msg);
      },
    };
    this.pending.push(delivery);
    if (this.pending.length >= this.s.batchSize) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.s.batchMs);
  }

  /** Starts a batch when a slot is free; a finishing batch starts the next from what waited meanwhile. */
  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.inFlight.size >= this.s.concurrentBatches) return;
    const batch = this.pending.splice(0, this.s.batchSize);
    if (batch.length === 0) return;
    const run: Promise<void> = this.processor
      .process(batch)
      .catch((err: Error) => this.log.error({ err: err.message }, 'batch failed; its messages will be redelivered'))
      .finally(() => {
        this.inFlight.delete(run);
        if (this.pending.length > 0) this.flush();
      });
    this.inFlight.add(run);
  }

  /** Stops taking messages, finishes the batch in hand (bounded), closes. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    const channel = this.channel;
    if (channel && this.consumerTag) await channel.cancel(this.consumerTag).catch(() => {});
    this.flush();
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight.size > 0 && Date.now() < deadline) {
      await Promise.race([...this.inFlight, new Promise((r) => setTimeout(r, deadline - Date.now()).unref())]);
    }
    const connection = this.connection;
    this.connection = undefined;
    this.channel = undefined;
    await connection?.close().catch(() => {});
  }
}
