// Consumes the ready queue with lib's batching consumer (lib/src/queue/batching-consumer.ts: bounded prefetch,
// batches by size or time, reconnect on a lost connection or a broker's cancel, failed batches handed back).
import { BatchingConsumer } from '@fleetcap/lib/queue/batching-consumer';
import { splitScheduleMessage } from '@fleetcap/lib/queue/session-message';
import { declareReadyQueues } from '@fleetcap/lib/queue/topology';
import type { Logger } from 'pino';
import type { BatchProcessor } from './processor.ts';

export interface ConsumerSettings {
  amqpUrls: readonly string[];
  queuePrefix: string;
  prefetch: number;
  batchSize: number;
  batchMs: number;
  /** Batches processed at once: while one waits on forecast or MariaDB, the next is loaded. */
  concurrentBatches: number;
}

export class QueueConsumer extends BatchingConsumer {
  constructor(s: ConsumerSettings, processor: BatchProcessor, log: Logger) {
    super({
      ...s,
      log,
      whileLost: 'reconnecting (unacked messages will be redelivered)',
      declare: async (channel) => {
        const queues = await declareReadyQueues(channel, s.queuePrefix);
        return { queue: queues.ready, dead: queues.dead };
      },
      // splitcap's message of a batch's sessions: each session is processed and settled as a message of its own.
      split: splitScheduleMessage,
      process: (deliveries) => processor.process(deliveries),
      batchFailedCode: 'session-worker.batch-failed',
    });
  }
}
