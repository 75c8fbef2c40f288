import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CaptureStats, captureToolEnvironment, parseStatsLine, tcpdumpArgs } from './capture.ts';

const fresh = (): CaptureStats => ({ captured: 0, receivedByFilter: 0, droppedByKernel: 0, droppedByInterface: 0 });

test("tcpdump's SIGUSR1 line and its exit summary both fill the stats", () => {
  const s = fresh();
  assert.ok(
    parseStatsLine('tcpdump: 4 packets captured, 8 packets received by filter, 2 packets dropped by kernel', s),
  );
  assert.deepEqual(s, { captured: 4, receivedByFilter: 8, droppedByKernel: 2, droppedByInterface: 0 });
  const t = fresh();
  for (const line of [
    '10 packets captured',
    '12 packets received by filter',
    '1 packet dropped by kernel',
    '3 packets dropped by interface',
  ])
    assert.ok(parseStatsLine(line, t));
  assert.deepEqual(t, { captured: 10, receivedByFilter: 12, droppedByKernel: 1, droppedByInterface: 3 });
  assert.equal(parseStatsLine('tcpdump: listening on lo, link-type EN10MB (Ethernet)', t), false);
});

test('tcpdump arguments: pcap on stdout, packet-buffered, filter as one argument after --', () => {
  assert.deepEqual(
    tcpdumpArgs({
      device: 'eth0',
      filter: 'udp and not (host 1.2.3.4 and tcp port 80)',
      snaplen: 1500,
      promiscuous: false,
      bufferKiB: 4096,
    }),
    [
      '-i',
      'eth0',
      '-s',
      '1500',
      '-B',
      '4096',
      '-U',
      '-p',
      '-w',
      '-',
      '--',
      'udp and not (host 1.2.3.4 and tcp port 80)',
    ],
  );
});

test('immediate mode is opt-in', () => {
  const args = tcpdumpArgs({
    device: 'lo',
    filter: 'udp',
    snaplen: 96,
    promiscuous: true,
    bufferKiB: 1024,
    immediate: true,
  });
  assert.ok(args.includes('--immediate-mode'));
  assert.ok(!args.includes('-p'));
});

test("tcpdump's environment keeps what it runs with and none of the sniffer's variables (its upload token)", () => {
  const env = captureToolEnvironment({
    PATH: '/usr/sbin:/usr/bin',
    TZ: 'UTC',
    FLEETCAP_AGENT_TOKEN: 'fcu1_the-sniffers-own-token',
    FLEETCAP_SNIFFER_CONFIG: '{}',
  });
  assert.deepEqual(env, { PATH: '/usr/sbin:/usr/bin', TZ: 'UTC' });
});
