// Consumes the detector queue `<prefix>.detector` (a quorum queue bound to the fanout exchange `<prefix>.verdicts`,
// shared by every detector replica: each event goes to one of them) with a bounded prefetch, in batches that
// close by size or by time, one batch at a time. lib's AmqpConnection reconnects by itself; the deliveries of a
// lost channel are redelivered by RabbitMQ.
import { detectorQueueName, verdictExchangeName } from '@fleetcap/lib/detectors/verdict-event';
import { AmqpConnection } from '@fleetcap/lib/queue/amqp-connection';
import { maxDeliveries } from '@fleetcap/lib/queue/topology';
import type { Check } from '@fleetcap/lib/runtime/health';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { Delivery, DetectorProcessor } from './processor.ts';

export interface ConsumerSettings {
  amqpUrl: string;
  queuePrefix: string;
  prefetch: number;
  batchSize: number;
  batchMs: number;
}

export class VerdictConsumer {
  private readonly amqp: AmqpConnection<{ queue: string; consumerTag: string }>;
  private channel: ConfirmChannel | undefined;
  private pending: Delivery[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly s: ConsumerSettings,
    private readonly processor: DetectorProcessor,
    private readonly log: Logger,
  ) {
    this.amqp = new AmqpConnection({
      url: s.amqpUrl,
      log,
      whileLost: 'reconnecting (unacked verdict events will be redelivered)',
      setup: async (channel) => {
        const exchange = verdictExchangeName(s.queuePrefix);
        const queue = detectorQueueName(s.queuePrefix);
        await channel.prefetch(s.prefetch);
        await channel.assertExchange(exchange, 'fanout', { durable: true });
        await channel.assertQueue(`${queue}.dead`, { durable: true });
        await channel.assertQueue(queue, {
          durable: true,
          arguments: {
            'x-queue-type': 'quorum',
            'x-delivery-limit': maxDeliveries,
            'x-dead-letter-exchange': '',
            'x-dead-letter-routing-key': `${queue}.dead`,
          },
        });
        await channel.bindQueue(queue, exchange, '');
        this.channel = channel;
        const { consumerTag } = await channel.consume(queue, (msg) => msg && this.onMessage(channel, msg));
        this.log.info({ queue, exchange, prefetch: s.prefetch }, 'consuming verdict events');
        return { queue, consumerTag };
      },
      onLost: () => {
        this.channel = undefined;
        this.pending = [];
      },
    });
  }

  health(): Check {
    return this.amqp.health();
  }

  async start(): Promise<void> {
    await this.amqp.start();
  }

  private onMessage(channel: ConfirmChannel, msg: ConsumeMessage): void {
    this.pending.push({
      body: msg.content,
      ack: () => {
        if (this.channel === channel) channel.ack(msg);
      },
    });
    if (this.pending.length >= this.s.batchSize) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.s.batchMs);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running) return;
    const batch = this.pending.splice(0, this.s.batchSize);
    if (batch.length === 0) return;
    this.running = this.processor
      .process(batch)
      .catch((err: Error) =>
        this.log.error(
          { code: 'detector.batch-failed', err: err.message },
          'batch failed; its events will be redelivered',
        ),
      )
      .finally(() => {
        this.running = undefined;
        if (this.pending.length > 0) this.flush();
      });
  }

  async stop(timeoutMs: number): Promise<void> {
    this.amqp.stopReconnecting();
    const link = this.amqp.link;
    if (link) await link.channel.cancel(link.value.consumerTag).catch(() => {});
    this.flush();
    const deadline = Date.now() + timeoutMs;
    while (this.running && Date.now() < deadline) {
      await Promise.race([this.running, new Promise((r) => setTimeout(r, deadline - Date.now()).unref())]);
    }
    await this.amqp.close();
    this.channel = undefined;
  }
}
