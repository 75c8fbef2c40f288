// Publishes "session ready" messages to RabbitMQ with publisher confirms: the delay queue for a
// session's first packet, the ready queue for a full or closing session. The connection is lib's
// AmqpConnection (reconnects by itself); while disconnected, or while the ready queue is deeper than
// allowed, it says so and ingest answers 503.

import { AmqpConnection } from '@fleetcap/lib/queue/amqp-connection';
import { publishToQueue, UnroutableMessage } from '@fleetcap/lib/queue/confirmed-publish';
import {
  encodeScheduleMessages,
  SESSIONS_PER_SCHEDULE_MESSAGE,
  type SessionMessage,
} from '@fleetcap/lib/queue/session-message';
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

  /**
   * Resolves once RabbitMQ has confirmed every message (persistent, durable queues). The sessions of one call (one
   * agent's batch) go as one message per queue, at most SESSIONS_PER_SCHEDULE_MESSAGE sessions each
   * (encodeScheduleMessages; the worker splits it): RabbitMQ stores and confirms two messages for a batch, not one
   * or two per session.
   */
  async publish(messages: SessionMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const link = this.amqp.link;
    if (!link) throw new SchedulerUnavailable(`RabbitMQ is unavailable (${this.amqp.lastError || 'connecting'})`);
    const { channel, value: queues } = link;
    const delayed = messages.filter((m) => m.reason === 'delay');
    const ready = messages.filter((m) => m.reason !== 'delay');
    const bodies: Array<[string, Buffer]> = [];
    for (const [queue, sessions] of [
      [queues.delay, delayed],
      [queues.ready, ready],
    ] as const)
      for (let at = 0; at < sessions.length; at += SESSIONS_PER_SCHEDULE_MESSAGE)
        bodies.push([queue, encodeScheduleMessages(sessions.slice(at, at + SESSIONS_PER_SCHEDULE_MESSAGE))]);
    try {
      // Each message's own confirm, not waitForConfirms: concurrent uploads then share RabbitMQ's disk
      // syncs instead of each waiting for everyone's.
      // mandatory: a message no queue takes (a queue deleted under splitcap) fails the upload instead of vanishing.
      await Promise.all(
        bodies.map(([queue, body]) => publishToQueue(channel, queue, body, { contentType: 'application/json' })),
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
