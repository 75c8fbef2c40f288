// Publishes "session ready" messages to RabbitMQ with publisher confirms: the delay queue for a
// session's first packet, the ready queue for a full or closing session. Reconnects by itself; while
// disconnected, or while the ready queue is deeper than allowed, it says so and ingest answers 503.

import { encodeSessionMessage, type SessionMessage } from '@fleetcap/lib/queue/session-message';
import { declareSessionQueues, type SessionQueues } from '@fleetcap/lib/queue/topology';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { Logger } from 'pino';

export interface SchedulerSettings {
  amqpUrl: string;
  queuePrefix: string;
  delayMs: number;
  /** Above this many ready messages, ingest pushes back with 503. */
  maxReadyDepth: number;
}

export class SchedulerUnavailable extends Error {
  override name = 'SchedulerUnavailable';
}

export class Scheduler {
  private connection: ChannelModel | undefined;
  private channel: ConfirmChannel | undefined;
  private queues: SessionQueues | undefined;
  private connecting: Promise<void> | undefined;
  private closed = false;
  private depthTimer: NodeJS.Timeout | undefined;
  readyDepth = 0;
  lastError = '';

  constructor(
    private readonly settings: SchedulerSettings,
    private readonly log: Logger,
  ) {}

  get connected(): boolean {
    return this.channel !== undefined;
  }

  async start(): Promise<void> {
    await this.connect();
    this.depthTimer = setInterval(() => void this.refreshDepth(), 1000);
    this.depthTimer.unref();
  }

  private connect(): Promise<void> {
    this.connecting ??= (async () => {
      try {
        const connection = await amqp.connect(this.settings.amqpUrl, { timeout: 3000 });
        const channel = await connection.createConfirmChannel();
        const queues = await declareSessionQueues(channel, this.settings.queuePrefix, this.settings.delayMs);
        connection.on('error', (err: Error) => {
          this.lastError = err.message;
        });
        connection.on('close', () => {
          if (this.connection !== connection) return;
          this.channel = undefined;
          this.connection = undefined;
          if (!this.closed) {
            this.log.warn({ err: this.lastError }, 'RabbitMQ connection lost; uploads get 503 until it is back');
            setTimeout(() => void this.connect().catch(() => {}), 1000).unref();
          }
        });
        this.connection = connection;
        this.channel = channel;
        this.queues = queues;
        this.lastError = '';
        this.log.info({ queues }, 'connected to RabbitMQ');
      } catch (err) {
        this.lastError = (err as Error).message;
        if (!this.closed) setTimeout(() => void this.connect().catch(() => {}), 2000).unref();
        throw new SchedulerUnavailable(
          `RabbitMQ is unreachable at ${this.settings.amqpUrl.replace(/\/\/[^@]*@/, '//')}: ${this.lastError}`,
        );
      } finally {
        this.connecting = undefined;
      }
    })();
    return this.connecting;
  }

  private async refreshDepth(): Promise<void> {
    const ch = this.channel;
    if (!ch) return;
    try {
      if (this.queues) this.readyDepth = (await ch.checkQueue(this.queues.ready)).messageCount;
    } catch (err) {
      this.lastError = (err as Error).message;
    }
  }

  /** Why ingest should push back now, or undefined when it may go on. */
  backpressure(): string | undefined {
    if (!this.channel) return `RabbitMQ is unavailable (${this.lastError || 'connecting'})`;
    if (this.readyDepth > this.settings.maxReadyDepth) {
      return `the ready queue holds ${this.readyDepth} messages, over the limit of ${this.settings.maxReadyDepth}`;
    }
    return undefined;
  }

  /** Resolves once RabbitMQ has confirmed every message (persistent, durable queues). */
  async publish(messages: SessionMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const ch = this.channel;
    const queues = this.queues;
    if (!ch || !queues) throw new SchedulerUnavailable(`RabbitMQ is unavailable (${this.lastError || 'connecting'})`);
    try {
      // Each message's own confirm, not waitForConfirms: concurrent uploads then share RabbitMQ's disk
      // syncs instead of each waiting for everyone's.
      await Promise.all(
        messages.map(
          (m) =>
            new Promise<void>((resolve, reject) => {
              const queue = m.reason === 'delay' ? queues.delay : queues.ready;
              ch.sendToQueue(
                queue,
                encodeSessionMessage(m),
                { persistent: true, contentType: 'application/json' },
                (err) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()),
              );
            }),
        ),
      );
    } catch (err) {
      throw new SchedulerUnavailable(`RabbitMQ did not confirm ${messages.length} messages: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.depthTimer) clearInterval(this.depthTimer);
    const c = this.connection;
    this.connection = undefined;
    this.channel = undefined;
    await c?.close().catch(() => {});
  }
}
