// Consumes the detector queue `<prefix>.detector` (a quorum queue bound to the fanout exchange `<prefix>.verdicts`,
// shared by every detector replica: each event goes to one of them) with lib's batching consumer
// (lib/src/queue/batching-consumer.ts), one batch at a time.

import { BatchingConsumer } from '@fleetcap/lib/queue/batching-consumer';
import { declareDetectorQueue } from '@fleetcap/lib/queue/topology';
import type { Logger } from 'pino';
import type { DetectorProcessor } from './processor.ts';

export interface ConsumerSettings {
  amqpUrls: readonly string[];
  queuePrefix: string;
  prefetch: number;
  batchSize: number;
  batchMs: number;
}

export class VerdictConsumer extends BatchingConsumer {
  constructor(s: ConsumerSettings, processor: DetectorProcessor, log: Logger) {
    super({
      ...s,
      concurrentBatches: 1,
      log,
      whileLost: 'reconnecting (unacked verdict events will be redelivered)',
      declare: (channel) => declareDetectorQueue(channel, s.queuePrefix),
      process: (deliveries) => processor.process(deliveries),
      batchFailedCode: 'detector.batch-failed',
    });
  }
}
