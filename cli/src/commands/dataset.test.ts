import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FEATURE_NAMES, FEATURE_VERSION, featureIndex } from '@fleetcap/lib/features/features';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { TCP_RST, TCP_SYN } from '@fleetcap/lib/packet/decode';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { exportDataset } from './dataset.ts';

const dir = mkdtempSync(join(tmpdir(), 'fleetcap-dataset-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(name: string, seed: number, withLabels = true): void {
  const runDir = join(dir, 'runs', name);
  mkdirSync(runDir, { recursive: true });
  const w = new PcapWriter({ linktype: 1 });
  // attacker 10.0.0.100 scans the server; a client talks DNS alongside
  for (let i = 0; i < 3; i++) {
    w.write({
      tsSec: 100,
      tsNsec: i * 1000,
      data: buildPacket({
        src: '10.0.0.100',
        sport: 6000,
        dst: '10.0.0.10',
        dport: 20 + i,
        proto: 'tcp',
        tcpFlags: TCP_SYN,
      }),
    });
    w.write({
      tsSec: 100,
      tsNsec: i * 1000 + 500,
      data: buildPacket({
        src: '10.0.0.10',
        sport: 20 + i,
        dst: '10.0.0.100',
        dport: 6000,
        proto: 'tcp',
        tcpFlags: TCP_RST,
      }),
    });
  }
  w.write({
    tsSec: 101,
    tsNsec: 0,
    data: buildPacket({ src: '10.0.0.20', sport: 5000, dst: '10.0.0.10', dport: 53, proto: 'udp' }),
  });
  w.write({
    tsSec: 101,
    tsNsec: 0,
    data: buildPacket({ src: '10.0.0.30', sport: 5000, dst: '10.0.0.31', dport: 53, proto: 'udp' }),
  });
  writeFileSync(join(runDir, 'capture.pcap'), w.toBuffer());
  if (!withLabels) return;
  const labels = {
    scenario: 'portscan',
    class: 'portscan',
    seed,
    rules: [
      { endpoints: [['10.0.0.100'], ['10.0.0.10']], class: 'portscan' },
      { endpoints: [['10.0.0.20'], ['10.0.0.10']], class: 'benign' },
      { endpoints: 'any', class: 'exclude' },
    ],
  };
  writeFileSync(join(runDir, 'labels.json'), JSON.stringify(labels));
}

describe('fleetcap dataset export', () => {
  it('writes one labelled feature row per session of every finished run', async () => {
    run('portscan-1', 1);
    run('portscan-2', 2);
    run('portscan-3', 3, false);
    const out = join(dir, 'data', 'dataset.csv');
    let log = '';
    const summary = await exportDataset(
      { runs: join(dir, 'runs'), out, framings: ['original'] },
      { write: (s: string) => (log += s) },
    );
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    assert.deepEqual(lines[0]!.split(','), ['run_id', 'scenario', 'seed', 'label', 'framing', ...FEATURE_NAMES]);
    assert.equal(lines.length, 1 + 2 * 4, 'per run: 3 scan sessions and 1 benign; the excluded session is left out');
    const rows = lines.slice(1).map((l) => l.split(','));
    assert.deepEqual(
      rows.map((r) => r.slice(0, 4).join(',')),
      [
        ...Array(3).fill('portscan-1,portscan,1,portscan'),
        'portscan-1,portscan,1,benign',
        ...Array(3).fill('portscan-2,portscan,2,portscan'),
        'portscan-2,portscan,2,benign',
      ],
    );
    assert.equal(rows[0]![5 + featureIndex('rst_bwd')], '1');
    assert.equal(rows[3]![5 + featureIndex('proto_udp')], '1');
    assert.deepEqual(summary.perClass, { portscan: 6, benign: 2 });
    assert.equal(summary.runs[0]!.excluded, 1);
    assert.equal(summary.runs[0]!.unlabelled, 0);
    assert.deepEqual(summary.skippedRuns, [{ runId: 'portscan-3', reason: 'no labels.json (run not finished?)' }]);
    const meta = JSON.parse(readFileSync(join(dir, 'data', 'dataset.meta.json'), 'utf8'));
    assert.equal(meta.featureVersion, FEATURE_VERSION);
    assert.deepEqual(meta.featureNames, FEATURE_NAMES);
    assert.match(log, /skipped portscan-3/);
  });

  it('writes each session once per framing, wire lengths moved by the link header difference', async () => {
    const out = join(dir, 'data', 'framed.csv');
    const summary = await exportDataset({ runs: join(dir, 'runs'), out }, { write: () => true });
    assert.deepEqual(summary.framings, ['original', 'sll', 'raw']);
    assert.equal(summary.rows, 3 * 8);
    assert.deepEqual(summary.perClass, { portscan: 6, benign: 2 }, 'sessions are counted once');
    const rows = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','));
    const first = featureIndex('first_wire_length');
    const [o, s, r] = rows.slice(0, 3);
    assert.deepEqual([o![4], s![4], r![4]], ['original', 'sll', 'raw']);
    assert.equal(Number(s![5 + first]), Number(o![5 + first]) + 2);
    assert.equal(Number(r![5 + first]), Number(o![5 + first]) - 14);
    assert.equal(s![5 + featureIndex('rst_bwd')], o![5 + featureIndex('rst_bwd')], 'only sizes move');
  });
});
