// One RabbitMQ connection with a confirm channel, kept up: connects, runs the app's setup on every new channel
// (declare queues, prefetch, consume), and when the connection or its channel is lost, or cannot be made, tries
// again with the shared backoff until close(). `connected` and `lastError` are what /healthz reports.
// Given the nodes of a cluster (several URLs), one attempt tries each node in turn, and after a loss it starts with
// the node after the lost one: a node killed under the app is tried last, so the app is back on a survivor at the
// first retry. The queues are quorum queues with a member on every node, so any node serves them.
import amqp, { type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import { type BackoffPolicy, backoffDelay } from '../runtime/backoff.ts';
import { type Check, check } from '../runtime/health.ts';

export interface AmqpConnectionOptions<T extends object> {
  /** One URL per node of the cluster (one for a single server), tried in this order at first. */
  urls: readonly string[];
  log: Logger;
  /** Runs on every new channel before it counts as connected; a failure closes the connection and retries. */
  setup: (channel: ConfirmChannel) => Promise<T>;
  /** What a lost connection means for this app, for its warning (e.g. "uploads get 503 until it is back"). */
  whileLost: string;
  /** Called when a connection that was up is lost (not on close()). */
  onLost?: () => void;
  reconnect?: BackoffPolicy;
  connectTimeoutMs?: number;
  /** amqplib's connect; tests pass their own. */
  connect?: (url: string, options: { timeout: number }) => Promise<ChannelModel>;
}

/** The channel in use and what the setup made on it. */
export interface AmqpLink<T> {
  channel: ConfirmChannel;
  value: T;
}

/** The URL without its credentials, for logs and messages. */
export function redactAmqpUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//');
}

export class AmqpConnection<T extends object> {
  private connection: ChannelModel | undefined;
  private current: AmqpLink<T> | undefined;
  private connecting: Promise<boolean> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  /** The node the next attempt starts with; the one in use while connected. */
  private node = 0;
  private reconnecting = true;
  private closed = false;
  lastError = '';

  constructor(private readonly options: AmqpConnectionOptions<T>) {
    if (options.urls.length === 0) throw new Error('AmqpConnection: no RabbitMQ URL given');
  }

  /** The node in use (its URL without credentials), or undefined while not connected. */
  get nodeUrl(): string | undefined {
    return this.current ? redactAmqpUrl(this.options.urls[this.node]!) : undefined;
  }

  get connected(): boolean {
    return this.current !== undefined;
  }

  /** The channel and the setup's result while connected. */
  get link(): AmqpLink<T> | undefined {
    return this.current;
  }

  health(): Check {
    return check(this.connected, this.lastError || 'connecting');
  }

  /** The first attempt; true when it connected. Either way later attempts go on in the background. */
  start(): Promise<boolean> {
    return this.attempt();
  }

  /** No reconnect after a loss from now on (a consumer that drains before it closes). */
  stopReconnecting(): void {
    this.reconnecting = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  /**
   * Consumes `queue` on `channel` (call it from setup). A cancel by the broker (amqplib hands the callback `null`:
   * the queue was deleted, its quorum leader moved away, the node is going down) would leave the app idle and
   * healthy-looking; instead the connection is dropped and made again, and /healthz says why meanwhile. Deliveries
   * not acknowledged go back to RabbitMQ with the old channel.
   */
  async consume(
    channel: ConfirmChannel,
    queue: string,
    onMessage: (msg: ConsumeMessage) => void,
  ): Promise<{ consumerTag: string }> {
    return channel.consume(queue, (msg) => {
      if (msg !== null) {
        onMessage(msg);
        return;
      }
      this.options.log.warn(
        { code: 'queue.consumer-cancelled', queue },
        'RabbitMQ cancelled the consumer; reconnecting (unacknowledged messages are redelivered)',
      );
      this.restart(`RabbitMQ cancelled the consumer of ${queue}; reconnecting`);
    });
  }

  /** Drops the connection in use (its channel's deliveries go back to RabbitMQ) and connects again with backoff. */
  restart(why: string): void {
    const connection = this.connection;
    if (!connection) return;
    this.lastError = why;
    this.lost(connection);
    void connection.close().catch(() => {});
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopReconnecting();
    await this.connecting?.catch(() => false);
    const connection = this.connection;
    this.connection = undefined;
    this.current = undefined;
    await connection?.close().catch(() => {});
  }

  private attempt(): Promise<boolean> {
    this.connecting ??= this.connectOnce().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /** Schedules the next attempt; returns its wait, or undefined when none is due (closed, already scheduled). */
  private retryLater(): number | undefined {
    if (this.closed || !this.reconnecting || this.retryTimer) return undefined;
    const waitMs = backoffDelay(++this.failures, this.options.reconnect ?? { baseMs: 1000, maxMs: 10_000 });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.attempt();
    }, waitMs);
    this.retryTimer.unref();
    return waitMs;
  }

  /** Each node in turn from `this.node` until one connects and its setup runs. */
  private async connectOnce(): Promise<boolean> {
    const { log, urls } = this.options;
    const errors: string[] = [];
    for (let k = 0; k < urls.length; k++) {
      const index = (this.node + k) % urls.length;
      try {
        return await this.connectTo(index);
      } catch (err) {
        const message = (err as Error).message;
        errors.push(urls.length === 1 ? message : `${redactAmqpUrl(urls[index]!)}: ${message}`);
      }
      if (this.closed) return false;
    }
    this.lastError = errors.join('; ');
    const attempt = this.failures + 1;
    const retryInMs = this.retryLater();
    if (retryInMs !== undefined) {
      const url = urls.map(redactAmqpUrl).join(',');
      log.warn({ url, err: this.lastError, attempt, retryInMs }, 'cannot reach RabbitMQ; retrying');
    }
    return false;
  }

  /** True when connected to node `index`, false when close() came meanwhile; throws what went wrong. */
  private async connectTo(index: number): Promise<boolean> {
    const target = this.options.urls[index]!;
    const connect = this.options.connect ?? ((u, o) => amqp.connect(u, o));
    let connection: ChannelModel | undefined;
    try {
      connection = await connect(target, { timeout: this.options.connectTimeoutMs ?? 3000 });
      const made = connection;
      made.on('error', (err: Error) => {
        this.lastError = err.message;
      });
      made.on('close', () => this.lost(made));
      const channel = await made.createConfirmChannel();
      channel.on('error', (err: Error) => {
        this.lastError = err.message;
      });
      // A channel the server closed (a failed declaration, a precondition) leaves the connection up: reconnect.
      channel.on('close', () => {
        if (this.connection === made) void made.close().catch(() => {});
      });
      const value = await this.options.setup(channel);
      if (this.closed) {
        await made.close().catch(() => {});
        return false;
      }
      this.connection = made;
      this.current = { channel, value };
      this.node = index;
      this.lastError = '';
      this.failures = 0;
      this.options.log.info(
        { url: redactAmqpUrl(target), ...(value as Record<string, unknown>) },
        'connected to RabbitMQ',
      );
      return true;
    } catch (err) {
      await connection?.close().catch(() => {});
      throw err;
    }
  }

  private get nextUrl(): string {
    return redactAmqpUrl(this.options.urls[this.node]!);
  }

  private lost(connection: ChannelModel): void {
    if (this.connection !== connection) return;
    this.connection = undefined;
    this.current = undefined;
    if (this.closed) return;
    const lostUrl = redactAmqpUrl(this.options.urls[this.node]!);
    // The lost node is tried last: a node that died refuses, or worse hangs, a connection for a while.
    this.node = (this.node + 1) % this.options.urls.length;
    this.options.onLost?.();
    const retryInMs = this.retryLater();
    this.options.log.warn(
      {
        url: lostUrl,
        err: this.lastError,
        retryInMs,
        ...(this.options.urls.length > 1 ? { nextUrl: this.nextUrl } : {}),
      },
      `RabbitMQ connection lost; ${this.options.whileLost}`,
    );
  }
}
