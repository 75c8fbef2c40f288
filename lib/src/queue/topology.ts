// The RabbitMQ queues of the session pipeline. Debian's RabbitMQ has no delayed-message plugin, so
// the delay is a durable queue whose message TTL dead-letters into the ready queue. The delay is part
// of the delay queue's name: changing it declares a new queue instead of failing with
// PRECONDITION_FAILED on the old queue's arguments.
import type { Channel } from 'amqplib';

// The prefix (FLEETCAP_QUEUE_PREFIX, default "fleetcap") lets several pipelines, or tests, share one broker.
export interface SessionQueues {
  ready: string;
  dead: string;
  delay: string;
}

export function sessionQueueNames(prefix: string, delayMs: number): SessionQueues {
  return {
    ready: `${prefix}.sessions.ready`,
    dead: `${prefix}.sessions.dead`,
    delay: `${prefix}.sessions.delay.${delayMs}ms`,
  };
}

/** Deliveries of one message before RabbitMQ dead-letters it (a message that keeps crashing workers). */
export const maxDeliveries = 10;

/**
 * The ready queue is a quorum queue so RabbitMQ counts deliveries: a message that kills worker after
 * worker goes to the dead-letter queue after maxDeliveries instead of looping forever.
 */
export async function declareReadyQueues(
  channel: Channel,
  prefix: string,
): Promise<Pick<SessionQueues, 'ready' | 'dead'>> {
  const q = sessionQueueNames(prefix, 0);
  await channel.assertQueue(q.dead, { durable: true });
  await channel.assertQueue(q.ready, {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-delivery-limit': maxDeliveries,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': q.dead,
    },
  });
  return { ready: q.ready, dead: q.dead };
}

export async function declareSessionQueues(channel: Channel, prefix: string, delayMs: number): Promise<SessionQueues> {
  const q = sessionQueueNames(prefix, delayMs);
  await declareReadyQueues(channel, prefix);
  await channel.assertQueue(q.delay, {
    durable: true,
    arguments: { 'x-message-ttl': delayMs, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': q.ready },
  });
  return q;
}

/**
 * The sweeper's queues (session-worker, record-sweeper.ts): a look at a connection record is due `sweepMs` after it
 * was armed. Like the session delay, a TTL queue that dead-letters into the due queue; the sweep interval is part of
 * its name. The due queue is a quorum queue with the same delivery limit as the ready queue.
 */
export interface RecordSweepQueues {
  sweep: string;
  due: string;
  dead: string;
}

export function recordSweepQueueNames(prefix: string, sweepMs: number): RecordSweepQueues {
  return {
    sweep: `${prefix}.records.sweep.${sweepMs}ms`,
    due: `${prefix}.records.due`,
    dead: `${prefix}.sessions.dead`,
  };
}

export async function declareRecordSweepQueues(
  channel: Channel,
  prefix: string,
  sweepMs: number,
): Promise<RecordSweepQueues> {
  const q = recordSweepQueueNames(prefix, sweepMs);
  await channel.assertQueue(q.dead, { durable: true });
  await channel.assertQueue(q.due, {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-delivery-limit': maxDeliveries,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': q.dead,
    },
  });
  await channel.assertQueue(q.sweep, {
    durable: true,
    arguments: { 'x-message-ttl': sweepMs, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': q.due },
  });
  return q;
}
