// Publishing a message that must reach a queue: `mandatory`, so a message no queue takes (a queue deleted under a
// running app, a wrong name) comes back (basic.return) instead of being confirmed and dropped, and publisher
// confirms, so the promise resolves only once RabbitMQ holds it. RabbitMQ sends the return before the confirm of
// the same message, so the confirm callback knows whether it was returned.
import { randomUUID } from 'node:crypto';
import type { ConfirmChannel, ConsumeMessage, Options } from 'amqplib';

export class UnroutableMessage extends Error {
  override name = 'UnroutableMessage';
}

const returnedIds = new WeakMap<ConfirmChannel, Set<string>>();

function returnsOf(channel: ConfirmChannel): Set<string> {
  let ids = returnedIds.get(channel);
  if (!ids) {
    const made = new Set<string>();
    channel.on('return', (msg: ConsumeMessage) => {
      const id = msg.properties.messageId as string | undefined;
      if (id) made.add(id);
    });
    returnedIds.set(channel, made);
    ids = made;
  }
  return ids;
}

/** Resolves once RabbitMQ confirmed the message into a queue; rejects when it was returned (no queue) or nacked. */
export function publishToQueue(
  channel: ConfirmChannel,
  queue: string,
  body: Buffer,
  options: Options.Publish = {},
): Promise<void> {
  const returned = returnsOf(channel);
  const messageId = options.messageId ?? randomUUID();
  return new Promise<void>((resolve, reject) => {
    channel.publish('', queue, body, { persistent: true, ...options, messageId, mandatory: true }, (err) => {
      if (err) {
        returned.delete(messageId);
        reject(err instanceof Error ? err : new Error(String(err)));
      } else if (returned.delete(messageId)) {
        reject(new UnroutableMessage(`RabbitMQ returned the message: no queue named ${queue}`));
      } else resolve();
    });
  });
}
