// Counted drops in SQL (issue 19: "a counted drop with its reason, visible in metrics and SQL"): a real splitcap on
// the stack's Redis and MariaDB counts a batch's skipped packets by reason in its metric and in packet_drop (and the
// report view), once for a batch sent twice, and a splitcap killed with -9 before it copied the counts loses none: the
// next one copies them from Redis. Records whose original length is below their captured length are among them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { pcapFile } from '@fleetcap/lib/pcap/hand-built-captures';
import type { RowDataPacket } from 'mysql2/promise';
import { removePipelineNamespace } from '../helpers/namespace.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { assertStackUp, mysqlAs, uniqueId } from '../helpers/stack.ts';
import { postBatch } from '../helpers/upload.ts';

const prefix = uniqueId('drp').replace(/[^A-Za-z0-9]/g, '');
const sender = { agent: uniqueId('drop-agent').slice(0, 60), token: 'drop-token-0123456789' };
const env = (copyMs: number) => ({
  FLEETCAP_SPLITCAP_PORT: '0',
  FLEETCAP_SPLITCAP_TOKENS: `${sender.agent}=${sender.token}`,
  FLEETCAP_REDIS_PREFIX: prefix,
  FLEETCAP_QUEUE_PREFIX: prefix,
  FLEETCAP_SESSION_DELAY_MS: '60000',
  FLEETCAP_SPLITCAP_DROP_COPY_MS: String(copyMs),
});
let splitcap: RunningApp | undefined;
let db: Awaited<ReturnType<typeof mysqlAs>>;

/** 2 good packets, 2 whose original length is below their captured length, 1 not IP, 1 captured in 1970. */
function badBatch(sport: number): Buffer {
  const frame = buildPacket({ proto: 'udp', src: '10.19.1.1', dst: '10.19.1.2', sport, dport: 53 });
  const sec = Math.floor(Date.now() / 1000) - 30;
  const arp = Buffer.concat([Buffer.alloc(12, 0xff), Buffer.from([0x08, 0x06]), Buffer.alloc(28)]);
  return pcapFile({
    littleEndian: true,
    nanosecond: false,
    records: [
      { sec, frac: 0, data: frame },
      { sec, frac: 1, data: frame, origLen: 10 },
      { sec, frac: 2, data: frame, origLen: 0 },
      { sec, frac: 3, data: arp },
      { sec: 5, frac: 0, data: frame },
      { sec, frac: 4, data: frame },
    ],
  });
}

async function dropsInSql(): Promise<Record<string, number>> {
  const [rows] = await db.query<RowDataPacket[]>(
    'SELECT reason, SUM(packets) AS packets FROM report_packet_drops_per_hour WHERE agent_id = ? GROUP BY reason',
    [sender.agent],
  );
  return Object.fromEntries(rows.map((r) => [r.reason as string, Number(r.packets)]));
}

async function untilDrops(expected: Record<string, number>, timeoutMs = 30_000): Promise<Record<string, number>> {
  const deadline = Date.now() + timeoutMs;
  let got = await dropsInSql();
  while (JSON.stringify(got) !== JSON.stringify(expected) && Date.now() < deadline) {
    await sleep(200);
    got = await dropsInSql();
  }
  return got;
}

before(async () => {
  assertStackUp();
  db = await mysqlAs('report');
});

after(async () => {
  await splitcap?.stop();
  await db?.end();
  await removePipelineNamespace(prefix, 60000);
});

test('a batch’s skipped packets are counted by reason in the metric and in packet_drop, once for a resent batch', async () => {
  splitcap = await startApp('splitcap', env(300), 60_000);
  const body = badBatch(5019);
  const res = await postBatch(splitcap.port, sender, 'drops-1', body);
  assert.equal(res.status, 202);
  const accepted = (await res.json()) as { packetsStored: number; skipped: Record<string, number> };
  assert.equal(accepted.packetsStored, 2);
  assert.equal(accepted.skipped['wire-length-below-captured'], 2);
  assert.equal(accepted.skipped['not-ip'], 1);
  assert.equal(accepted.skipped['time-out-of-range'], 1);
  const expected = {
    'skipped-not-ip': 1,
    'skipped-time-out-of-range': 1,
    'skipped-wire-length-below-captured': 2,
  };
  assert.deepEqual(await untilDrops(expected), expected);
  const metrics = await (await fetch(`http://127.0.0.1:${splitcap.port}/metrics`)).text();
  assert.match(
    metrics,
    /fleetcap_splitcap_dropped_packets_total\{reason="skipped-wire-length-below-captured"[^}]*\} 2/,
  );
  assert.match(splitcap.output(), /splitcap\.wire-length-below-captured/);

  // The same batch again: a duplicate, counted nothing more.
  const again = await postBatch(splitcap.port, sender, 'drops-1', body);
  assert.equal(again.status, 202);
  assert.equal(((await again.json()) as { duplicate: boolean }).duplicate, true);
  await sleep(1500);
  assert.deepEqual(await dropsInSql(), expected);
});

test('a splitcap killed before its copy loses no count: the next one copies it from Redis', async () => {
  await splitcap?.stop();
  // Copies only every 10 minutes: the counts of this batch stay in Redis until the kill.
  splitcap = await startApp('splitcap', env(600_000), 60_000);
  const res = await postBatch(splitcap.port, sender, 'drops-2', badBatch(5020));
  assert.equal(res.status, 202);
  splitcap.child.kill('SIGKILL');
  await splitcap.stop();
  const before = await dropsInSql();
  assert.equal(before['skipped-wire-length-below-captured'], 2, 'not copied before the kill');
  splitcap = await startApp('splitcap', env(300), 60_000);
  const expected = {
    'skipped-not-ip': 2,
    'skipped-time-out-of-range': 2,
    'skipped-wire-length-below-captured': 4,
  };
  assert.deepEqual(await untilDrops(expected), expected);
});
