import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PAYLOAD_BYTES_KEPT } from '@fleetcap/lib/app-metadata/from-session';
import { Classifier } from '@fleetcap/lib/classifier/model';
import { alertPolicyOf, decideAlert } from '@fleetcap/lib/features/alert-policy';
import { extractFeatures } from '@fleetcap/lib/features/features';
import { featureSessionOf } from '@fleetcap/lib/features/from-session';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { TCP_ACK, TCP_PSH, TCP_RST, TCP_SYN } from '@fleetcap/lib/packet/decode';
import { readCaptureBuffer } from '@fleetcap/lib/pcap/reader';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { Sessionizer } from '@fleetcap/lib/session/sessionizer';
import { EXIT_ALL_READ, EXIT_MODEL_REFUSED, runClassify } from './classify.ts';
import { runSessions } from './sessions.ts';

const dir = mkdtempSync(join(tmpdir(), 'fleetcap-classify-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const modelPath = new URL('../../../model/model.onnx', import.meta.url).pathname;

function capture(): { path: string; bytes: Buffer } {
  const w = new PcapWriter({ linktype: 1, nanosecond: true });
  let t = 0;
  const at = () => {
    t += 1_000_000;
    return { tsSec: 1_700_000_000, tsNsec: t };
  };
  for (let i = 0; i < 5; i++) {
    const c = { src: '10.1.1.1', sport: 40000 + i, dst: '10.2.2.2', dport: 22 + i };
    const s = { src: c.dst, sport: c.dport, dst: c.src, dport: c.sport };
    w.write({ ...at(), data: buildPacket({ ...c, proto: 'tcp', tcpFlags: TCP_SYN }) });
    if (i % 2) w.write({ ...at(), data: buildPacket({ ...s, proto: 'tcp', tcpFlags: TCP_RST | TCP_ACK }) });
    else {
      w.write({ ...at(), data: buildPacket({ ...s, proto: 'tcp', tcpFlags: TCP_SYN | TCP_ACK }) });
      w.write({ ...at(), data: buildPacket({ ...c, proto: 'tcp', tcpFlags: TCP_ACK }) });
      w.write({
        ...at(),
        data: buildPacket({ ...c, proto: 'tcp', tcpFlags: TCP_PSH | TCP_ACK, payload: Buffer.alloc(40) }),
      });
    }
  }
  w.write({ ...at(), data: buildPacket({ src: '10.1.1.1', sport: 5353, dst: '10.2.2.2', dport: 53, proto: 'udp' }) });
  const bytes = w.toBuffer();
  const path = join(dir, 'c.pcap');
  writeFileSync(path, bytes);
  return { path, bytes };
}

function collect() {
  let text = '';
  return { write: (s: string) => (text += s), text: () => text };
}

describe('fleetcap classify', () => {
  it('--json gives the fields of `sessions --json` plus the model verdict', async () => {
    const { path, bytes } = capture();
    const out = collect();
    assert.equal(await runClassify([path], { json: true, model: modelPath }, out, collect()), EXIT_ALL_READ);
    const lines = out
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const sessionsOut = collect();
    await runSessions([path], { json: true }, sessionsOut, collect());
    const expected = sessionsOut
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const classified = lines.filter((l) => l.type === 'session');
    assert.equal(classified.length, 6);
    assert.deepEqual(
      classified.map(
        ({
          label: _l,
          score: _s,
          alert: _a,
          unknown: _u,
          alertReason: _r,
          alertLabel: _al,
          detectionId: _d,
          ...rest
        }) => rest,
      ),
      expected.filter((l) => l.type === 'session'),
    );
    // The verdicts are the model's on the features of the first packets of each session.
    // Kept as the command keeps them: with their payloads, which the content features read.
    const sz = new Sessionizer({ maxPacketsKept: 24, payloadBytesKept: PAYLOAD_BYTES_KEPT });
    for (const p of readCaptureBuffer(bytes)) sz.add(p);
    const classifier = await Classifier.load({ modelPath });
    try {
      const sessions = [...sz.sessions.values()];
      const verdicts = await classifier.classify(sessions.map(featureSessionOf));
      assert.deepEqual(
        classified.map((l) => [l.label, l.score]),
        verdicts.map((v) => [v.label, v.score]),
      );
      // alert and unknown are the card's alert policy on the verdict's probabilities.
      const policy = alertPolicyOf(classifier.card, 'card');
      assert.deepEqual(
        classified.map((l) => [l.alert, l.unknown]),
        verdicts.map((v) => {
          const d = decideAlert(
            classifier.classes.map((c) => v.scores[c]!),
            classifier.classes,
            policy,
          );
          return [d.alert, d.unknown];
        }),
      );
      assert.equal(extractFeatures(featureSessionOf(sessions[0]!)).length > 0, true);
      const summary = lines.at(-1)!;
      assert.equal(summary.type, 'summary');
      assert.equal(summary.modelVersion, classifier.version);
      assert.equal(
        Object.values(summary.labels as Record<string, number>).reduce((a, b) => a + b, 0),
        6,
      );
      assert.equal(summary.alerts, classified.filter((l) => l.alert).length);
      assert.equal(summary.unknown, classified.filter((l) => l.unknown).length);
    } finally {
      await classifier.release();
    }
  });

  it('prints a table and refuses a model that does not fit', async () => {
    const { path } = capture();
    const out = collect();
    assert.equal(await runClassify([path], { model: modelPath }, out, collect()), EXIT_ALL_READ);
    assert.match(out.text(), /6 sessions, model .*\n.*label\s+score\s+alert/);
    assert.match(out.text(), /\nalerts: \d+/);
    const err = collect();
    assert.equal(await runClassify([path], { model: join(dir, 'missing.onnx') }, collect(), err), EXIT_MODEL_REFUSED);
    assert.match(err.text(), /cannot read the model .*missing\.onnx/);
  });
});
