// splitcap's peak memory under packet-heavy uploads: N (default 4) 63 MiB pcaps at once, each 1,138,971 packets in
// 1,000 UDP sessions (so nearly every packet is past the 24 a session keeps), against a real splitcap on the stack's
// Redis and RabbitMQ; the peak resident set (VmHWM) of splitcap afterwards, with this tree and, given --baseline DIR,
// with another checkout (e.g. one before splitcap trimmed batches to the kept packets), measured in the same run.
//   node --import tsx --conditions=fleetcap-source bench/splitcap-ingest/heavy-uploads.ts [--uploads 4] [--baseline DIR]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { launchApp } from '@fleetcap/lib/runtime/launcher';
import { BATCHES_PATH, uploadHeaders } from '@fleetcap/lib/upload/batch-upload';
import { Redis } from 'ioredis';
import { floodCapture } from '../../test/helpers/flood-capture.ts';
import { redisKeysWithPrefix, removePipelineNamespace } from '../../test/helpers/namespace.ts';
import { connections, uniqueId } from '../../test/helpers/stack.ts';

const { values } = parseArgs({
  options: { uploads: { type: 'string', default: '4' }, baseline: { type: 'string' } },
});
const uploads = Number(values.uploads);
const here = fileURLToPath(new URL('../..', import.meta.url));

/** The flood capture's flows folded onto 1,000 sessions: every 1,000th packet is the same session's. */
function heavyCapture(variant: number): Buffer {
  const pcap = floodCapture();
  const record = 16 + 42;
  for (let at = 24, i = 0; at + record <= pcap.length; at += record, i++) {
    pcap.writeUInt32BE((0x0a000000 | ((variant << 16) + (i % 1000))) >>> 0, at + 16 + 14 + 12);
    pcap.writeUInt16BE(2000 + variant, at + 16 + 14 + 20);
  }
  return pcap;
}

async function measure(root: string, label: string): Promise<number> {
  const prefix = uniqueId('heavy').replace(/[^A-Za-z0-9]/g, '');
  const token = 'heavy-uploads-token-0123456789';
  const agent = uniqueId('heavy').slice(0, 50);
  const app = launchApp({
    name: `splitcap (${label})`,
    app: 'splitcap',
    root,
    env: {
      FLEETCAP_LOG_LEVEL: 'warn',
      FLEETCAP_SPLITCAP_PORT: '0',
      FLEETCAP_SPLITCAP_PLAINTEXT: 'loopback',
      FLEETCAP_SPLITCAP_CREDENTIALS: 'tokens',
      FLEETCAP_SPLITCAP_TOKENS: `${agent}=${token}`,
      FLEETCAP_REDIS_PREFIX: prefix,
      FLEETCAP_QUEUE_PREFIX: prefix,
    },
  });
  const port = await app.ready(60_000);
  const bodies = Array.from({ length: uploads }, (_, i) => heavyCapture(i + 1));
  const statuses = await Promise.all(
    bodies.map((body, i) =>
      fetch(`http://127.0.0.1:${port}${BATCHES_PATH}`, {
        method: 'POST',
        headers: uploadHeaders(agent, token, `heavy-${i}`),
        body,
        signal: AbortSignal.timeout(600_000),
      }).then((r) => r.status),
    ),
  );
  const peak = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${app.child.pid}/status`, 'utf8'))![1]) / 1024;
  await app.stop();
  const redis = new Redis(connections.redisUrl);
  const sessions = (await redisKeysWithPrefix(redis, prefix, 's:*:m')).length;
  redis.disconnect();
  await removePipelineNamespace(prefix);
  console.log(
    `${label}: ${uploads} uploads at once → ${statuses.join(',')}; ${sessions} sessions; splitcap peak RSS ${peak.toFixed(0)} MiB`,
  );
  return peak;
}

const now = await measure(here, 'this tree');
if (values.baseline) {
  const before = await measure(values.baseline, `baseline ${values.baseline}`);
  console.log(`peak RSS: ${now.toFixed(0)} MiB against ${before.toFixed(0)} MiB (${(now / before).toFixed(2)} x)`);
}
