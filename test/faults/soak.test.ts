// The soak's short form (CI, 2 minutes, a sample every 10 s): RSS of every app flat after its warm-up, Redis holding
// about the sessions the rate keeps open and none once the traffic stops, the queues drained (test/faults/soak.ts;
// the long form, 30 minutes sampled every 30 s: test/faults/soak-run.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertStackUp } from '../helpers/stack.ts';
import { formatSoak, runSoak } from './soak.ts';

test('soak, short form: memory flat, Redis tracks the active sessions, queues drain', {
  timeout: 420_000,
}, async (t) => {
  assertStackUp();
  // The drain: up to 120 s (the test's timeout leaves room for the apps' start and stop on a loaded machine).
  const report = await runSoak({
    durationMs: 120_000,
    sampleMs: 10_000,
    drainDeadlineMs: 120_000,
    log: (l) => t.diagnostic(l),
  });
  const text = formatSoak(report);
  for (const line of text.split('\n')) t.diagnostic(line);
  assert.deepEqual(report.failed, [], text);
  assert.ok(report.samples.length >= 10, `${report.samples.length} samples`);
  assert.ok(report.maxRedisSessions > 0, 'sessions were in Redis while the traffic ran');
  // 10 new sessions/s of about 11 packets each for 120 s: some 13,000 packets.
  assert.ok(report.packetsAccepted > 5_000, `${report.packetsAccepted} packets stored`);
});
