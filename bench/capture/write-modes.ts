// Benchmark: what tcpdump's way of writing into the sniffer's pipe costs (issue 20, part 2). The same rated trafgen
// traffic on a veth pair the bench makes, captured by tcpdump writing classic pcap into a pipe that the project's
// streaming reader drains (as the sniffer's does), once per variant and rate, alternating: `-U` (a write per packet,
// what the sniffer runs), no `-U` (stdio's buffer: a write per 4-64 KiB, but a packet may wait in it indefinitely on a
// quiet link, so it is not a setting the sniffer can use alone) and `-U` with a 4× larger kernel buffer (-B). For each:
// packets the kernel dropped, the CPU seconds of tcpdump and of the reader, per 1,000 packets.
//   flock -o /tmp/fleetcap-integration.lock node --import tsx --conditions=fleetcap-source bench/capture/write-modes.ts \
//     [--pps 30000,60000] [--seconds 8]
// Needs root, tcpdump and trafgen (netsniff-ng). Traffic flows only between the two ends of the pair.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CaptureParser } from '@fleetcap/lib/pcap/reader';
import { createVethPair, destroy, type VethPair } from '../../test/helpers/netns.ts';
import { syntheticCapture } from '../../test/helpers/synthetic-sessions.ts';
import { cpuSeconds, socketMemoryKeeper, trafgen, trafgenConfig } from './traffic.ts';

const { values } = parseArgs({
  options: { pps: { type: 'string', default: '30000,60000' }, seconds: { type: 'string', default: '8' } },
});
const rates = values.pps!.split(',').map(Number);
const seconds = Number(values.seconds);
if (process.getuid?.() !== 0) {
  console.error('bench/capture/write-modes: needs root (network namespaces and packet capture)');
  process.exit(2);
}

const variants: Array<{ name: string; args: string[] }> = [
  { name: '-U -B 16384 (the sniffer)', args: ['-U', '-B', '16384'] },
  { name: 'no -U, -B 16384', args: ['-B', '16384'] },
  { name: '-U -B 65536', args: ['-U', '-B', '65536'] },
];

const pair: VethPair = createVethPair();
const socketMemory = socketMemoryKeeper();
const rows: Array<{
  variant: string;
  pps: number;
  sent: number;
  read: number;
  dropped: number;
  tcpdumpCpuPer1k: number;
  readerCpuPer1k: number;
}> = [];
try {
  const specs = Array.from({ length: 4000 }, (_, i) => ({
    proto: i % 4 === 0 ? ('udp' as const) : ('tcp' as const),
    packets: 10,
  }));
  const cfg = join(pair.dir, 'replay.trafgen');
  writeFileSync(cfg, trafgenConfig(syntheticCapture(specs, 4242).pcap, 4000));
  for (const pps of rates)
    for (const v of variants) {
      const tcpdump = spawn(
        'ip',
        ['netns', 'exec', pair.nsB, 'tcpdump', '-i', pair.devB, '-s', '262144', ...v.args, '-w', '-'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      pair.children.push(tcpdump);
      let stderr = '';
      tcpdump.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
      });
      const parser = new CaptureParser();
      let read = 0;
      tcpdump.stdout.on('data', (c: Buffer) => {
        parser.push(c);
        for (let r = parser.nextRecord(); r !== null; r = parser.nextRecord()) read++;
      });
      const exited = new Promise<void>((r) => tcpdump.once('exit', () => r()));
      const deadline = Date.now() + 30_000;
      while (!/listening on/.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      // tcpdump runs under `ip netns exec`, which execs it: the child's pid is tcpdump's.
      const reader0 = process.cpuUsage();
      const sent = await trafgen(pair, cfg, pps, 1, seconds);
      socketMemory.restore();
      await new Promise((r) => setTimeout(r, 1500));
      const tcpdumpCpu = cpuSeconds(tcpdump.pid!);
      tcpdump.kill('SIGINT');
      await exited;
      const readerUsage = process.cpuUsage(reader0);
      const dropped = Number(/(\d+) packets? dropped by kernel/.exec(stderr)?.[1] ?? Number.NaN);
      const row = {
        variant: v.name,
        pps,
        sent: sent.sent,
        read,
        dropped,
        tcpdumpCpuPer1k: (tcpdumpCpu / Math.max(1, read)) * 1000 * 1000,
        readerCpuPer1k: ((readerUsage.user + readerUsage.system) / 1e6 / Math.max(1, read)) * 1000 * 1000,
      };
      rows.push(row);
      console.log(
        `  ${pps} pps, ${v.name}: sent ${row.sent}, read ${row.read}, kernel drops ${row.dropped}; tcpdump ${row.tcpdumpCpuPer1k.toFixed(2)} ms CPU per 1,000 packets, reader ${row.readerCpuPer1k.toFixed(2)} ms`,
      );
    }
} finally {
  destroy(pair);
  socketMemory.restore();
}
console.log(`load ${loadavg()[0]!.toFixed(1)} at the end`);
console.log(`bench-result: ${JSON.stringify({ seconds, rows })}`);
