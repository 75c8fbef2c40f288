import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { sessionizeCapture } from '@fleetcap/lib/features/capture';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from '@fleetcap/lib/packet/decode';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { runClassify } from './classify.ts';
import { detectorSessionOf } from './classify-detections.ts';
import { detectorSessionsOfFile } from './detections.ts';

const dir = mkdtempSync(join(tmpdir(), 'fleetcap-classify-detections-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const modelPath = new URL('../../../model/model.onnx', import.meta.url).pathname;

/** `attempts` FTP logins that fail, 5 s apart, from `client`; each is one short session with USER/PASS/530. */
function ftpLogins(w: PcapWriter, client: string, attempts: number, startSec: number): void {
  for (let i = 0; i < attempts; i++) {
    let ns = 0;
    const at = () => {
      ns += 20_000_000;
      return { tsSec: startSec + i * 5, tsNsec: ns };
    };
    const c = { src: client, sport: 41000 + i, dst: '10.60.0.21', dport: 21, proto: 'tcp' as const };
    const s = { src: c.dst, sport: 21, dst: client, dport: c.sport, proto: 'tcp' as const };
    const data = (from: typeof c | typeof s, text: string) =>
      w.write({ ...at(), data: buildPacket({ ...from, tcpFlags: TCP_PSH | TCP_ACK, payload: Buffer.from(text) }) });
    w.write({ ...at(), data: buildPacket({ ...c, tcpFlags: TCP_SYN }) });
    w.write({ ...at(), data: buildPacket({ ...s, tcpFlags: TCP_SYN | TCP_ACK }) });
    w.write({ ...at(), data: buildPacket({ ...c, tcpFlags: TCP_ACK }) });
    data(s, '220 ready\r\n');
    data(c, 'USER admin\r\n');
    data(s, '331 password\r\n');
    data(c, `PASS guess${i}\r\n`);
    data(s, '530 Login incorrect.\r\n');
    w.write({ ...at(), data: buildPacket({ ...c, tcpFlags: TCP_FIN | TCP_ACK }) });
    w.write({ ...at(), data: buildPacket({ ...s, tcpFlags: TCP_FIN | TCP_ACK }) });
  }
}

function capture(): string {
  const w = new PcapWriter({ linktype: 1, nanosecond: true });
  ftpLogins(w, '10.60.0.66', 24, 1_700_000_000);
  ftpLogins(w, '10.60.0.7', 1, 1_700_000_030); // a user mistyping a password once
  const path = join(dir, 'ftp.pcap');
  writeFileSync(path, w.toBuffer());
  return path;
}

async function jsonLines(path: string, options: { detections?: boolean } = {}) {
  let text = '';
  await runClassify(
    [path],
    { json: true, model: modelPath, ...options },
    { write: (s: string) => (text += s) },
    {
      write: () => true,
    },
  );
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('fleetcap classify with the detectors', () => {
  it("makes a brute force's one-failed-login sessions alerts of class bruteforce, not the lone failed login", async () => {
    const path = capture();
    const lines = await jsonLines(path);
    const sessions = lines.filter((l) => l.type === 'session');
    const detections = lines.filter((l) => l.type === 'detection');
    assert.equal(sessions.length, 25);
    assert.deepEqual(
      detections.map((d) => [d.detector, d.source, d.target, d.sessions]),
      [['brute_force', '10.60.0.66', '10.60.0.21:21/tcp', 24]],
    );
    const id = detections[0]!.id;
    for (const s of sessions.filter((x) => x.src === '10.60.0.66')) {
      assert.equal(s.alert, true);
      assert.equal(s.alertLabel, 'bruteforce');
      assert.equal(s.detectionId, id);
      assert.equal(s.alertReason, s.label !== 'benign' ? 'model+detection' : 'detection');
    }
    const lone = sessions.find((x) => x.src === '10.60.0.7')!;
    assert.equal(lone.detectionId, null);
    assert.equal(lone.alertReason, lone.alert ? 'model' : null);
    assert.equal(lone.alertLabel, lone.alert ? lone.label : null);
    const summary = lines.at(-1)!;
    assert.equal(summary.detections, 1);
    assert.equal((summary.alertsByLabel as Record<string, number>).bruteforce, 24);

    const modelOnly = (await jsonLines(path, { detections: false })).filter((l) => l.type === 'session');
    assert.ok(modelOnly.every((s) => s.detectionId === null && s.alertReason !== 'detection'));
    assert.deepEqual(
      modelOnly.map((s) => [s.label, s.score]),
      sessions.map((s) => [s.label, s.score]),
      "the model's label and score stay as they are",
    );
  });

  it('keeps the payloads of `fleetcap detections` when the reader refills its buffer (past 4 MiB)', async () => {
    const w = new PcapWriter({ linktype: 1, nanosecond: true });
    ftpLogins(w, '10.60.0.66', 24, 1_700_000_000);
    // Then more than the reader's 4 MiB chunk of other traffic, so the FTP packets' bytes are read over.
    for (let i = 0; i < 3500; i++) {
      const payload = Buffer.alloc(1400, i & 255);
      const packet = buildPacket({
        src: '10.60.0.9',
        sport: 5000,
        dst: '10.60.0.10',
        dport: 6000,
        proto: 'udp',
        payload,
      });
      w.write({ tsSec: 1_700_000_200, tsNsec: i * 1000, data: packet });
    }
    const path = join(dir, 'ftp-then-bulk.pcap');
    writeFileSync(path, w.toBuffer());
    const { sessions } = await detectorSessionsOfFile(path, 'offline');
    const logins = sessions.filter((s) => s.src === '10.60.0.66');
    assert.equal(logins.length, 24);
    assert.deepEqual(
      logins.map((s) => s.authAttempts),
      logins.map(() => 1),
      'every session shows its failed login',
    );
  });

  it('gives the detectors the same sessions as `fleetcap detections` builds', async () => {
    const path = capture();
    const captured = await sessionizeCapture(path);
    const ours = captured.sessions.map((s) => detectorSessionOf(s, captured.records, { label: 'x', score: 1 }));
    const theirs = (await detectorSessionsOfFile(path, 'offline')).sessions;
    const strip = ({ label: _l, score: _s, ...rest }: Record<string, unknown>) => rest;
    const byCid = (a: { communityId: string }, b: { communityId: string }) =>
      a.communityId.localeCompare(b.communityId);
    assert.deepEqual(
      ours.map((s) => strip(s as never)).sort(byCid as never),
      theirs.map((s) => strip(s as never)).sort(byCid as never),
    );
  });
});
