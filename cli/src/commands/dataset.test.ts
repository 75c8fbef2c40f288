import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { dnsMessage } from '@fleetcap/lib/app-metadata/build-messages';
import { FEATURE_NAMES, FEATURE_VERSION, featureIndex } from '@fleetcap/lib/features/features';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { TCP_RST, TCP_SYN } from '@fleetcap/lib/packet/decode';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { exportDataset, META_COLUMNS } from './dataset.ts';

const dir = mkdtempSync(join(tmpdir(), 'fleetcap-dataset-'));
/** Index of the first feature column. */
const F = META_COLUMNS.length;
after(() => rmSync(dir, { recursive: true, force: true }));

function run(name: string, seed: number, withLabels = true): void {
  const runDir = join(dir, 'runs', name);
  mkdirSync(runDir, { recursive: true });
  const w = new PcapWriter({ linktype: 1 });
  // attacker 10.0.0.100 scans the server; a client talks DNS alongside
  for (let i = 0; i < 3; i++) {
    w.write({
      tsSec: 1_700_000_100,
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
      tsSec: 1_700_000_100,
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
    tsSec: 1_700_000_101,
    tsNsec: 0,
    data: buildPacket({
      src: '10.0.0.20',
      sport: 5000,
      dst: '10.0.0.10',
      dport: 53,
      proto: 'udp',
      payload: dnsMessage({ name: 'www.lab.test', type: 1 }),
    }),
  });
  w.write({
    tsSec: 1_700_000_101,
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
    assert.deepEqual(lines[0]!.split(','), [
      'run_id',
      'scenario',
      'seed',
      'label',
      'framing',
      'source',
      'file',
      'max_packets',
      ...FEATURE_NAMES,
    ]);
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
    assert.deepEqual(rows[0]!.slice(4, 8), ['original', 'lab', 'portscan-1/capture.pcap', '24']);
    assert.equal(rows[0]![F + featureIndex('rst_bwd')], '1');
    assert.equal(rows[3]![F + featureIndex('proto_udp')], '1');
    assert.equal(rows[3]![F + featureIndex('dns_queries')], '1', 'the payloads reach the content features');
    assert.equal(rows[3]![F + featureIndex('dns_name_length')], '12');
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
    assert.equal(Number(s![F + first]), Number(o![F + first]) + 2);
    assert.equal(Number(r![F + first]), Number(o![F + first]) - 14);
    assert.equal(s![F + featureIndex('rst_bwd')], o![F + featureIndex('rst_bwd')], 'only sizes move');
  });

  it('reads real captures as benign except the labelled files, one source per folder, and writes cut-short rows', async () => {
    const nets = join(dir, 'nets');
    mkdirSync(join(nets, 'a'), { recursive: true });
    const scan = new PcapWriter({ linktype: 1 });
    for (let i = 0; i < 2; i++) {
      scan.write({
        tsSec: 1_700_000_200,
        tsNsec: i * 1000,
        data: buildPacket({
          src: '192.0.2.9',
          sport: 7000,
          dst: '192.0.2.1',
          dport: 80 + i,
          proto: 'tcp',
          tcpFlags: TCP_SYN,
        }),
      });
      scan.write({
        tsSec: 1_700_000_200,
        tsNsec: i * 1000 + 500,
        data: buildPacket({
          src: '192.0.2.1',
          sport: 80 + i,
          dst: '192.0.2.9',
          dport: 7000,
          proto: 'tcp',
          tcpFlags: TCP_RST,
        }),
      });
    }
    scan.write({
      tsSec: 1_700_000_201,
      tsNsec: 0,
      data: buildPacket({ src: '192.0.2.9', sport: 7001, dst: '192.0.2.1', dport: 53, proto: 'udp' }),
    });
    writeFileSync(join(nets, 'a', 'scan.pcap'), scan.toBuffer());
    const web = new PcapWriter({ linktype: 1 });
    for (let i = 0; i < 3; i++)
      web.write({
        tsSec: 1_700_000_300,
        tsNsec: i * 1000,
        data: buildPacket({
          src: '198.51.100.2',
          sport: 5555,
          dst: '198.51.100.3',
          dport: 443,
          proto: 'tcp',
          tcpFlags: TCP_SYN,
        }),
      });
    writeFileSync(join(nets, 'web.pcap'), web.toBuffer());
    writeFileSync(join(nets, 'README.txt'), 'not a capture');
    const labels = join(dir, 'capture-labels.json');
    writeFileSync(
      labels,
      JSON.stringify({
        files: {
          'nets/a/scan.pcap': {
            class: 'portscan',
            why: 'a scan',
            rules: [{ match: { proto: 'udp', serverPort: [53] }, class: 'exclude', why: "the scanner's DNS" }],
          },
          'nets/gone.pcap': { class: 'exclude', why: 'a file that is not there' },
          'other/x.pcap': { class: 'exclude', why: 'a source this export does not read' },
        },
      }),
    );
    const out = join(dir, 'data', 'captures.csv');
    let log = '';
    const summary = await exportDataset(
      { runs: join(dir, 'no-runs'), captures: [nets], captureLabels: labels, cuts: [1], out },
      { write: (t: string) => (log += t) },
    );
    const rows = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','));
    assert.deepEqual(
      rows.map((r) => r.slice(0, 8).join(',')),
      [
        'nets/a/scan.pcap,nets,0,portscan,original,nets,a/scan.pcap,24',
        'nets/a/scan.pcap,nets,0,portscan,original,nets,a/scan.pcap,1',
        'nets/a/scan.pcap,nets,0,portscan,original,nets,a/scan.pcap,24',
        'nets/a/scan.pcap,nets,0,portscan,original,nets,a/scan.pcap,1',
        'nets/web.pcap,nets,0,benign,original,nets,web.pcap,24',
        'nets/web.pcap,nets,0,benign,original,nets,web.pcap,1',
      ],
      'real captures in their own framing only; the DNS session the rule excludes is left out',
    );
    assert.equal(rows[0]![F + featureIndex('packets')], '2');
    assert.equal(rows[1]![F + featureIndex('packets')], '1', 'the cut row sees only the first packet');
    assert.equal(rows[1]![F + featureIndex('rst_bwd')], '0');
    assert.equal(rows[4]![F + featureIndex('packets')], '3');
    assert.deepEqual(summary.perSource, { nets: { portscan: 2, benign: 1 } });
    assert.deepEqual(summary.cuts, [1]);
    const source = summary.captures[0]!;
    assert.equal(source.source, 'nets');
    assert.deepEqual(
      source.files.map((f) => [f.file, f.sessions, f.excluded, f.labelled ?? false]),
      [
        ['a/scan.pcap', 2, 1, true],
        ['web.pcap', 1, 0, false],
      ],
    );
    assert.deepEqual(summary.unmatchedCaptureLabels, ['nets/gone.pcap']);
    assert.match(log, /no lab runs/);
    assert.match(log, /capture label entry nets\/gone\.pcap matches no capture file/);
  });

  it('refuses cuts outside 1..SESSION_MAX_PACKETS-1 and two sources of one name', async () => {
    await assert.rejects(
      exportDataset({ runs: join(dir, 'runs'), cuts: [24], out: join(dir, 'data', 'x.csv') }, { write: () => true }),
      /a cut is a packet count from 1 to 23/,
    );
    mkdirSync(join(dir, 'one', 'nets'), { recursive: true });
    await assert.rejects(
      exportDataset(
        {
          runs: join(dir, 'runs'),
          captures: [join(dir, 'nets'), join(dir, 'one', 'nets')],
          out: join(dir, 'data', 'x.csv'),
        },
        { write: () => true },
      ),
      /two captures folders are named "nets"/,
    );
  });
});
