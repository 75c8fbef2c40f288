import { existsSync, readdirSync } from 'node:fs';
import { detectorSessionsOfFile } from '@fleetcap/cli/commands/detections';

for (const dir of process.argv.slice(2))
  for (const run of readdirSync(dir)) {
    const f = `${dir}/${run}/capture.pcap`;
    if (!existsSync(f)) continue;
    const { sessions } = await detectorSessionsOfFile(f, 'offline');
    const pairs = new Map<string, number[]>();
    for (const s of sessions as any[]) {
      if (s.proto !== 'tcp' || s.srcPayloadBytes === 0 || s.lastUs - s.firstUs > 30e6) continue;
      if (![443, 4443, 8443, 10443].includes(s.dport) && !(s.dport > 1000 && s.dport % 1000 === 443)) continue;
      const k = `${s.src}>${s.dst}:${s.dport}`;
      (pairs.get(k) ?? pairs.set(k, []).get(k)!).push(s.srcPayloadBytes);
    }
    const top = [...pairs]
      .sort((a, b) => b[1].length - a[1].length)
      .slice(0, 2)
      .map(([k, v]) => `${k} n=${v.length} sizes=${[...new Set(v)].slice(0, 6).join('/')}`);
    console.log(run, top.join(' | '));
  }
