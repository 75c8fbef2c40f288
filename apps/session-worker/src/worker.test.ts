import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PAYLOAD_BYTES_KEPT } from '@fleetcap/lib/app-metadata/from-session';
import { alertOutcome } from '@fleetcap/lib/detectors/detection-alerts';
import {
  extractFeatures,
  type FeaturePacket,
  type FeatureSession,
  SESSION_MAX_PACKETS,
} from '@fleetcap/lib/features/features';
import { featureSessionOf } from '@fleetcap/lib/features/from-session';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { LINKTYPE_ETHERNET, TCP_ACK, TCP_PSH, TCP_SYN } from '@fleetcap/lib/packet/decode';
import { CapturedPacket } from '@fleetcap/lib/pcap/reader';
import { Sessionizer } from '@fleetcap/lib/session/sessionizer';
import { communityId as communityIdOf } from '@fleetcap/lib/session-record/community-id';
import { encodePacketRecordTail } from '@fleetcap/lib/session-store/layout';
import { buildSession } from '@fleetcap/lib/session-store/reader';
import { loadWorkerConfig } from './config.ts';
import { forecastRequest } from './forecast-client.ts';
import { METADATA_COLUMN_NAMES } from './verdict-metadata.ts';
import { inRollupOrder, mysqlDatetime, verdictValues } from './verdict-writer.ts';

const message = {
  key: 'tcp/10.0.0.2/443/10.0.0.9/51000',
  reason: 'full' as const,
  occurrence: 1732451234567890,
  agent: 'a1',
  communityId: '1:from-the-message',
  enqueuedAt: 1,
};
const communityId = communityIdOf({ protocol: 6, src: '10.0.0.9', sport: 51000, dst: '10.0.0.2', dport: 443 });
const meta = {
  agent: 'a1',
  community_id: communityId,
  initiator: '1', // endpoint b (10.0.0.9:51000) sent the first packet
  occurrence: '1732451234567890',
  first: '1732451234567890',
  last: '1732451235000001',
  packets: '24',
  overflow: '6',
  bytes: '9000',
};
// Stored directions are canonical: 1 = b to a, i.e. from the initiator (side b) here.
const members = ['1:1:1732451234567890:74:0:2', '2:0:1732451234600000:74:0:18', '3:1:1732451234700000:66:0:16'];

describe('session-worker pure parts', () => {
  test('verdict rows carry µs times as UTC DATETIME(6) and every contract column', () => {
    assert.equal(mysqlDatetime(1732451234567890), '2024-11-24 12:27:14.567890');
    assert.equal(mysqlDatetime(1_000_000), '1970-01-01 00:00:01.000000');
    const values = verdictValues({
      session: buildSession(message, meta, members),
      label: 'benign',
      score: 0.37,
      alert: false,
      unknown: true,
      modelVersion: 'm1',
      reason: 'full',
    });
    assert.deepEqual(values, [
      message.key,
      1732451234567890,
      'a1',
      communityId,
      'tcp',
      '10.0.0.9',
      51000,
      '10.0.0.2',
      443,
      '2024-11-24 12:27:14.567890',
      '2024-11-24 12:27:15.000001',
      30,
      9000,
      'benign',
      0.37,
      0,
      1,
      'm1',
      'full',
      // No alert: no reason, class or detection.
      null,
      null,
      null,
      // No application metadata given: every metadata column NULL (verdict-metadata.ts).
      ...METADATA_COLUMN_NAMES.map(() => null),
    ]);
  });

  test("a verdict row says why it is an alert: the model's of its label, or a detection's of the detection's class", () => {
    const base = {
      session: buildSession(message, meta, members),
      label: 'sqli',
      score: 0.6,
      unknown: false,
      modelVersion: 'm1',
      reason: 'full' as const,
    };
    const reasonColumns = (values: unknown[]) => values.slice(19, 22);
    assert.deepEqual(reasonColumns(verdictValues({ ...base, alert: true })), ['model', 'sqli', null]);
    const backed = alertOutcome(
      { alert: false, label: 'benign' },
      { detectionId: 'brute_force|s|1', detector: 'brute_force', alertLabel: 'bruteforce' },
    );
    const values = verdictValues({ ...base, label: 'benign', ...backed });
    assert.equal(values[13], 'benign', "the model's label stays");
    assert.equal(values[15], 1, 'an alert');
    assert.deepEqual(reasonColumns(values), ['detection', 'bruteforce', 'brute_force|s|1']);
  });

  test("a batch's rows go in the order of the rollup rows they add to (hour, label, class)", () => {
    const session = buildSession(message, meta, members);
    const at = (hours: number) => ({ ...session, firstUs: session.firstUs + hours * 3_600_000_000 });
    const row = (name: string, hours: number, label: string, alert: boolean, alertLabel?: string) => ({
      session: at(hours),
      label,
      score: 0.9,
      alert,
      unknown: false,
      modelVersion: name,
      reason: 'full' as const,
      ...(alertLabel ? { alertLabel } : {}),
    });
    const batch = [
      row('sqli+1h', 1, 'sqli', true),
      row('portscan', 0, 'portscan', true),
      row('benign', 2, 'benign', false),
      row('bruteforce-by-detection', 0, 'benign', true, 'bruteforce'),
      row('sqli', 0, 'sqli', true),
    ];
    assert.deepEqual(
      inRollupOrder(batch).map((r) => r.modelVersion),
      ['bruteforce-by-detection', 'portscan', 'sqli', 'sqli+1h', 'benign'],
    );
  });

  test('the forecast request holds each session packets with direction, time and sizes', () => {
    const body = forecastRequest([buildSession(message, meta, members)]);
    assert.equal(body.sessions.length, 1);
    assert.deepEqual(body.sessions[0]!.packets[0], {
      direction: 0,
      tsUs: 1732451234567890,
      wireLength: 74,
      payloadLength: 0,
      tcpFlags: 2,
    });
    assert.equal(body.sessions[0]!.serverPort, 443);
    assert.equal(body.sessions[0]!.clientPort, 51000);
  });

  test("the forecast request carries each stored frame's payload, so forecast's features equal the export's", () => {
    // One exchange as frames: read offline by the sessionizer (the dataset export) and stored as splitcap stores it.
    const client = { src: '10.0.0.9', sport: 51000, dst: '10.0.0.2', dport: 80, proto: 'tcp' as const };
    const server = {
      src: client.dst,
      sport: client.dport,
      dst: client.src,
      dport: client.sport,
      proto: 'tcp' as const,
    };
    const request = Buffer.from(`GET /item?id=1%27%20UNION%20SELECT%20NULL--%20-${'x'.repeat(1200)} HTTP/1.1\r\n\r\n`);
    const frames = [
      buildPacket({ ...client, tcpFlags: TCP_SYN }),
      buildPacket({ ...server, tcpFlags: TCP_SYN | TCP_ACK }),
      buildPacket({ ...client, tcpFlags: TCP_ACK }),
      buildPacket({ ...client, tcpFlags: TCP_PSH | TCP_ACK, payload: request }),
      buildPacket({
        ...server,
        tcpFlags: TCP_PSH | TCP_ACK,
        payload: Buffer.from('HTTP/1.1 500 Error\r\n\r\nsqlite3 error'),
      }),
    ];
    const fromClient = [true, false, true, true, false];
    const tsUs = (i: number) => 1732451234567890 + i * 1000;
    const offline = new Sessionizer({ maxPacketsKept: SESSION_MAX_PACKETS, payloadBytesKept: PAYLOAD_BYTES_KEPT });
    frames.forEach((frame, i) => {
      const t = tsUs(i);
      offline.add(
        new CapturedPacket(
          LINKTYPE_ETHERNET,
          0,
          Math.floor(t / 1e6),
          (t % 1e6) * 1000,
          frame.length,
          frame.length,
          frame,
          0,
        ),
      );
    });
    const exported = extractFeatures(featureSessionOf([...offline.sessions.values()][0]!));

    // Canonical side a is 10.0.0.2:80 (the server), so the client's packets are stored as direction 1.
    const stored = frames.map((frame, i) =>
      Buffer.concat([
        Buffer.from(`${i + 1}:`),
        encodePacketRecordTail(
          fromClient[i] ? 1 : 0,
          String(tsUs(i)),
          frame.length,
          i === 3 ? request.length : i === 4 ? frame.length - 54 : 0,
          [TCP_SYN, TCP_SYN | TCP_ACK, TCP_ACK, TCP_PSH | TCP_ACK, TCP_PSH | TCP_ACK][i]!,
          LINKTYPE_ETHERNET,
          frame.subarray(0, 2048),
        ),
      ]),
    );
    const stats = { packetsWithoutPayload: 0 };
    const httpMessage = { ...message, key: 'tcp/10.0.0.2/80/10.0.0.9/51000' };
    const body = JSON.parse(
      JSON.stringify(
        forecastRequest([buildSession(httpMessage, { ...meta, packets: '5', overflow: '0' }, stored)], stats),
      ),
    ) as {
      sessions: Array<
        Omit<FeatureSession, 'packets'> & { packets: Array<Omit<FeaturePacket, 'payload'> & { payload?: string }> }
      >;
    };
    assert.equal(stats.packetsWithoutPayload, 0);
    const sent = body.sessions[0]!;
    assert.equal(Buffer.from(sent.packets[3]!.payload!, 'base64').length, 1024, 'only what the features read');
    const served = extractFeatures({
      ...sent,
      packets: sent.packets.map((p) => ({ ...p, payload: p.payload ? Buffer.from(p.payload, 'base64') : undefined })),
    });
    assert.deepEqual(served, exported);

    const noFrames = forecastRequest([buildSession(httpMessage, meta, ['1:1:1732451234567890:100:46:24'])], stats);
    assert.equal(noFrames.sessions[0]!.packets[0]!.payload, undefined);
    assert.equal(stats.packetsWithoutPayload, 1, 'a record of the layout before frames has no payload to send');
  });

  test('config errors name the variable', () => {
    assert.throws(() => loadWorkerConfig({ FLEETCAP_FORECAST_URL: 'nope' }), /FLEETCAP_FORECAST_URL="nope"/);
    assert.throws(
      () => loadWorkerConfig({ FLEETCAP_WORKER_BATCH_SIZE: '600', FLEETCAP_WORKER_PREFETCH: '100' }),
      /FLEETCAP_WORKER_BATCH_SIZE="600": is over FLEETCAP_WORKER_PREFETCH=100: a batch could never fill/,
    );
  });
});
