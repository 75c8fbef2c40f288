// Consumes the ready queue with a bounded prefetch and hands the processor batches that close by size
// or by time. Batches are processed one after another; messages that arrive meanwhile form the next.
// The connection is lib's AmqpConnection (reconnects by itself): deliveries of a lost channel are
// redelivered by RabbitMQ.

import { AmqpConnection } from '@fleetcap/lib/queue/amqp-connection';
import { declareReadyQueues } from '@fleetcap/lib/queue/topology';
import type { Check } from '@fleetcap/lib/runtime/health';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
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

interface Consuming {
  ready: string;
  dead: string;
  consumerTag: string;
}

export class QueueConsumer {
  private readonly amqp: AmqpConnection<Consuming>;
  /** The channel deliveries are acknowledged on; a message of an older channel was handed back already. */
  private channel: ConfirmChannel | undefined;
  private pending: Delivery[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly s: ConsumerSettings,
    private readonly processor: BatchProcessor,
    private readonly log: Logger,
  ) {
    this.amqp = new AmqpConnection({
      url: s.amqpUrl,
      log,
      whileLost: 'reconnecting (unacked messages will be redelivered)',
      setup: async (channel) => {
        await channel.prefetch(s.prefetch);
        const queues = await declareReadyQueues(channel, s.queuePrefix);
        this.channel = channel;
        const { consumerTag } = await channel.consume(
          queues.ready,
          (msg) => msg && this.onMessage(channel, queues.dead, msg),
        );
        this.log.info({ queue: queues.ready, prefetch: s.prefetch }, 'consuming');
        return { ...queues, consumerTag };
      },
      onLost: () => {
        this.channel = undefined;
        this.pending = [];
      },
    });
  }

  get connected(): boolean {
    return this.amqp.connected;
  }

  get lastError(): string {
    return this.amqp.lastError;
  }

  health(): Check {
    return this.amqp.health();
  }

  /** Connects and consumes; while RabbitMQ is away it keeps trying in the background. */
  async start(): Promise<void> {
    await this.amqp.start();
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
    // A connection lost now stays lost: its messages go back to RabbitMQ, and this worker is leaving.
    this.amqp.stopReconnecting();
    const link = this.amqp.link;
    if (link) await link.channel.cancel(link.value.consumerTag).catch(() => {});
    this.flush();
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight.size > 0 && Date.now() < deadline) {
      await Promise.race([...this.inFlight, new Promise((r) => setTimeout(r, deadline - Date.now()).unref())]);
    }
    await this.amqp.close();
    this.channel = undefined;
  }
}
