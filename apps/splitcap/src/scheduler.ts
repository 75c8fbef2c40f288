// Publishes "session ready" messages to RabbitMQ with publisher confirms: the delay queue for a
// session's first packet, the ready queue for a full or closing session. The connection is lib's
// AmqpConnection (reconnects by itself); while disconnected, or while the ready queue is deeper than
// allowed, it says so and ingest answers 503.

import { AmqpConnection } from '@fleetcap/lib/queue/amqp-connection';
import { publishToQueue, UnroutableMessage } from '@fleetcap/lib/queue/confirmed-publish';
import { encodeSessionMessage, type SessionMessage } from '@fleetcap/lib/queue/session-message';
import { declareSessionQueues, type SessionQueues } from '@fleetcap/lib/queue/topology';
import type { Check } from '@fleetcap/lib/runtime/health';
import type { Logger } from 'pino';

export interface SchedulerSettings {
  amqpUrls: readonly string[];
  queuePrefix: string;
  delayMs: number;
  /** Above this many ready messages, ingest pushes back with 503. */
  maxReadyDepth: number;
}

export class SchedulerUnavailable extends Error {
  override name = 'SchedulerUnavailable';
}

export class Scheduler {
  private readonly amqp: AmqpConnection<SessionQueues>;
  private depthTimer: NodeJS.Timeout | undefined;
  readyDepth = 0;

  constructor(
    private readonly settings: SchedulerSettings,
    log: Logger,
  ) {
    this.amqp = new AmqpConnection({
      urls: settings.amqpUrls,
      log,
      setup: (channel) => declareSessionQueues(channel, settings.queuePrefix, settings.delayMs),
      whileLost: 'uploads get 503 until it is back',
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

  /** Connects (or goes on trying in the background) and starts watching the ready queue's depth. */
  async start(): Promise<void> {
    await this.amqp.start();
    this.depthTimer = setInterval(() => void this.refreshDepth(), 1000);
    this.depthTimer.unref();
  }

  private async refreshDepth(): Promise<void> {
    const link = this.amqp.link;
    if (!link) return;
    // A failed check closes the channel; the connection's own error handling reports and reconnects.
    this.readyDepth = await link.channel.checkQueue(link.value.ready).then(
      (q) => q.messageCount,
      () => this.readyDepth,
    );
  }

  /** Why ingest should push back now, or undefined when it may go on. */
  backpressure(): string | undefined {
    if (!this.amqp.connected) return `RabbitMQ is unavailable (${this.amqp.lastError || 'connecting'})`;
    if (this.readyDepth > this.settings.maxReadyDepth) {
      return `the ready queue holds ${this.readyDepth} messages, over the limit of ${this.settings.maxReadyDepth}`;
    }
    return undefined;
  }

  /** Resolves once RabbitMQ has confirmed every message (persistent, durable queues). */
  async publish(messages: SessionMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const link = this.amqp.link;
    if (!link) throw new SchedulerUnavailable(`RabbitMQ is unavailable (${this.amqp.lastError || 'connecting'})`);
    const { channel, value: queues } = link;
    try {
      // Each message's own confirm, not waitForConfirms: concurrent uploads then share RabbitMQ's disk
      // syncs instead of each waiting for everyone's.
      // mandatory: a message no queue takes (a queue deleted under splitcap) fails the upload instead of vanishing.
      await Promise.all(
        messages.map((m) =>
          publishToQueue(channel, m.reason === 'delay' ? queues.delay : queues.ready, encodeSessionMessage(m), {
            contentType: 'application/json',
          }),
        ),
      );
    } catch (err) {
      // A returned message means the queues are gone: declaring them again on a new channel is the repair.
      if (err instanceof UnroutableMessage) this.amqp.restart(err.message);
      throw new SchedulerUnavailable(`RabbitMQ did not confirm ${messages.length} messages: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {
    if (this.depthTimer) clearInterval(this.depthTimer);
    await this.amqp.close();
  }
}
