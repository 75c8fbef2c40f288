import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { communityId as communityIdOf } from '@fleetcap/lib/session-record/community-id';
import { buildSession } from '@fleetcap/lib/session-store/reader';
import { loadWorkerConfig } from './config.ts';
import { forecastRequest } from './forecast-client.ts';
import { METADATA_COLUMN_NAMES } from './verdict-metadata.ts';
import { mysqlDatetime, verdictValues } from './verdict-writer.ts';

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
      // No application metadata given: every metadata column NULL (verdict-metadata.ts).
      ...METADATA_COLUMN_NAMES.map(() => null),
    ]);
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

  test('config errors name the variable', () => {
    assert.throws(() => loadWorkerConfig({ FLEETCAP_FORECAST_URL: 'nope' }), /FLEETCAP_FORECAST_URL="nope"/);
    assert.throws(
      () => loadWorkerConfig({ FLEETCAP_WORKER_BATCH_SIZE: '600', FLEETCAP_WORKER_PREFETCH: '100' }),
      /FLEETCAP_WORKER_BATCH_SIZE="600": is over FLEETCAP_WORKER_PREFETCH=100: a batch could never fill/,
    );
  });
});
