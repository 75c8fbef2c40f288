// Publishes every committed verdict, with the session fields the detectors read (lib/src/detectors/verdict-event.ts),
// to the fanout exchange `<prefix>.verdicts`, after its row commits and before the session's messages are acked: a
// crash in between redelivers the messages, the INSERT IGNORE is a no-op and the events go out again (the detector
// stage counts a session it already saw once more in the incident's sessions, never as a new destination, port or
// attempt). Publisher confirms: publish() returns once RabbitMQ holds every event.
import {
  detectorSessionOfLoaded,
  encodeVerdictEvent,
  verdictExchangeName,
} from '@fleetcap/lib/detectors/verdict-event';
import { AmqpConnection } from '@fleetcap/lib/queue/amqp-connection';
import type { Check } from '@fleetcap/lib/runtime/health';
import type { Logger } from 'pino';
import type { VerdictRow } from './verdict-writer.ts';

export class VerdictPublisher {
  private readonly exchange: string;
  private readonly amqp: AmqpConnection<{ exchange: string }>;

  constructor(options: { amqpUrls: readonly string[]; queuePrefix: string; log: Logger }) {
    this.exchange = verdictExchangeName(options.queuePrefix);
    const exchange = this.exchange;
    this.amqp = new AmqpConnection({
      urls: options.amqpUrls,
      log: options.log,
      whileLost: 'verdict events wait (and with them the acks of their messages) until it is back',
      setup: async (channel) => {
        await channel.assertExchange(exchange, 'fanout', { durable: true });
        return { exchange };
      },
    });
  }

  start(): Promise<boolean> {
    return this.amqp.start();
  }

  health(): Check {
    return this.amqp.health();
  }

  close(): Promise<void> {
    return this.amqp.close();
  }

  async publish(rows: VerdictRow[]): Promise<void> {
    const link = this.amqp.link;
    if (!link)
      throw new Error(`RabbitMQ is not connected (${this.amqp.lastError || 'connecting'}): verdict events wait`);
    for (const r of rows) {
      const body = encodeVerdictEvent(detectorSessionOfLoaded(r.session, r.label, r.score));
      link.channel.publish(this.exchange, '', body, { persistent: true, contentType: 'application/json' });
    }
    await link.channel.waitForConfirms();
  }
}
