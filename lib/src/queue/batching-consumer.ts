// The consumer loop the session-worker (ready queue) and the detector (verdict events) share: a bounded prefetch,
// batches that close by size or by time, up to `concurrentBatches` at once, each delivery acknowledged or
// dead-lettered by the processor. What this loop adds to lib's AmqpConnection:
//   - a broker's consumer cancel reconnects (AmqpConnection.consume) instead of leaving the app idle;
//   - a batch that fails hands its unsettled deliveries back (nack, requeue): the queue is a quorum queue with a
//     delivery limit, so a batch that keeps failing ends in the dead-letter queue after a bounded number of tries
//     instead of holding prefetch slots forever;
//   - dead-lettering publishes to the dead queue with the reason, waits for the confirm, then acks.
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { Check } from '../runtime/health.ts';
import { AmqpConnection } from './amqp-connection.ts';
import { publishToQueue } from './confirmed-publish.ts';

export interface QueueDelivery {
  body: Buffer;
  /** How often RabbitMQ delivered this message before (a quorum queue's x-delivery-count). */
  deliveryCount: number;
  ack: () => void;
  /** To the dead queue with `x-fleetcap-reason`, then acked. */
  deadLetter: (reason: string) => Promise<void>;
}

export interface BatchingConsumerOptions {
  amqpUrls: readonly string[];
  log: Logger;
  /** What a lost connection means for this app, for its warning. */
  whileLost: string;
  prefetch: number;
  batchSize: number;
  batchMs: number;
  concurrentBatches: number;
  /** Declares what is consumed on a new channel: the queue and its dead-letter queue. */
  declare: (channel: ConfirmChannel) => Promise<{ queue: string; dead: string }>;
  process: (deliveries: QueueDelivery[]) => Promise<void>;
  /** The log code of a failed batch, e.g. `detector.batch-failed`. */
  batchFailedCode: string;
  /**
   * The parts of a message that holds several (the session-worker's schedule messages of a batch's sessions), each
   * processed and settled as a delivery of its own; undefined: the message is one delivery.
   */
  split?: (body: Buffer) => Buffer[] | undefined;
}

interface Consuming {
  queue: string;
  dead: string;
  consumerTag: string;
}

export class BatchingConsumer {
  private readonly amqp: AmqpConnection<Consuming>;
  /** The channel deliveries are settled on; a message of an older channel was handed back already. */
  private channel: ConfirmChannel | undefined;
  private pending: QueueDelivery[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly o: BatchingConsumerOptions) {
    this.amqp = new AmqpConnection({
      urls: o.amqpUrls,
      log: o.log,
      whileLost: o.whileLost,
      setup: async (channel) => {
        await channel.prefetch(o.prefetch);
        const { queue, dead } = await o.declare(channel);
        this.channel = channel;
        const { consumerTag } = await this.amqp.consume(channel, queue, (msg) => this.onMessage(channel, dead, msg));
        o.log.info({ queue, prefetch: o.prefetch }, 'consuming');
        return { queue, dead, consumerTag };
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

  /** The RabbitMQ node consumed from (its URL without credentials), or undefined while not connected. */
  get nodeUrl(): string | undefined {
    return this.amqp.nodeUrl;
  }

  health(): Check {
    return this.amqp.health();
  }

  /** Connects and consumes; while RabbitMQ is away it keeps trying in the background. */
  async start(): Promise<void> {
    await this.amqp.start();
  }

  private onMessage(channel: ConfirmChannel, deadQueue: string, msg: ConsumeMessage): void {
    // A channel that closed meanwhile has handed the message back to RabbitMQ already.
    const current = () => this.channel === channel;
    const deliveries = partDeliveries(
      this.o.split?.(msg.content) ?? [msg.content],
      Number(msg.properties.headers?.['x-delivery-count'] ?? 0),
      {
        ack: () => {
          if (current()) channel.ack(msg);
        },
        requeue: () => {
          if (current()) channel.nack(msg, false, true);
        },
      },
      (body, reason) =>
        publishToQueue(channel, deadQueue, body, {
          headers: { 'x-fleetcap-reason': reason, 'x-fleetcap-dead-at': new Date().toISOString() },
        }),
    );
    this.pending.push(...deliveries);
    while (this.pending.length >= this.o.batchSize && this.inFlight.size < this.o.concurrentBatches) this.flush();
    if (this.pending.length > 0 && !this.timer) this.timer = setTimeout(() => this.flush(), this.o.batchMs);
  }

  /** Starts a batch when a slot is free; a finishing batch starts the next from what waited meanwhile. */
  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.inFlight.size >= this.o.concurrentBatches) return;
    const batch = this.pending.splice(0, this.o.batchSize);
    if (batch.length === 0) return;
    const run: Promise<void> = this.o
      .process(batch)
      .catch((err: Error) => {
        // Handed back now rather than when the channel closes: the delivery limit counts the tries.
        for (const d of batch) (d as PartDelivery).requeue();
        this.o.log.error(
          { code: this.o.batchFailedCode, err: err.message, messages: batch.length },
          'batch failed; its messages go back to the queue (dead-lettered after the delivery limit)',
        );
      })
      .finally(() => {
        this.inFlight.delete(run);
        if (this.pending.length > 0) this.flush();
      });
    this.inFlight.add(run);
  }

  /** Stops taking messages, finishes the batches in hand (bounded), closes. */
  async stop(timeoutMs: number): Promise<void> {
    // A connection lost now stays lost: its messages go back to RabbitMQ, and this app is leaving.
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

/** A delivery as the consumer holds it: also handed back (requeue) when its batch fails. */
export type PartDelivery = QueueDelivery & { settled: () => boolean; requeue: () => void };

/**
 * The deliveries of one message's parts (one part: the message itself). The message is settled once: acked when every
 * part is acked or dead-lettered, handed back whole (`message.requeue`) when any part is handed back; a part settled
 * after that does nothing (the message comes again, and the processor's work is idempotent). A part dead-lettered
 * goes to the dead queue as its own body (`publishDead`, awaited before the part counts as settled).
 */
export function partDeliveries(
  parts: readonly Buffer[],
  deliveryCount: number,
  message: { ack: () => void; requeue: () => void },
  publishDead: (body: Buffer, reason: string) => Promise<void>,
): PartDelivery[] {
  let open = parts.length;
  let messageSettled = false;
  return parts.map((body) => {
    let settled = false;
    const isSettled = () => settled || messageSettled;
    const partDone = () => {
      settled = true;
      open--;
      if (open === 0 && !messageSettled) {
        messageSettled = true;
        message.ack();
      }
    };
    return {
      body,
      deliveryCount,
      ack: () => {
        if (!isSettled()) partDone();
      },
      deadLetter: async (reason: string) => {
        if (isSettled()) return;
        await publishDead(body, reason);
        if (!isSettled()) partDone();
      },
      settled: isSettled,
      requeue: () => {
        if (isSettled()) return;
        settled = true;
        messageSettled = true;
        message.requeue();
      },
    };
  });
}
