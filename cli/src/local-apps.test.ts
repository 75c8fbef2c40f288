import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthDetail } from './local-apps.ts';

test("fleetcap status shows an app's checks, and the HTTP status when it is unhealthy", () => {
  assert.equal(healthDetail(200, '{"ok":true,"checks":{"redis":"ok","rabbitmq":"ok"}}\n'), 'redis ok, rabbitmq ok');
  assert.equal(
    healthDetail(503, '{"ok":false,"checks":{"redis":"ok","rabbitmq":"down: connect ECONNREFUSED 127.0.0.1:5672"}}'),
    'HTTP 503: redis ok, rabbitmq down: connect ECONNREFUSED 127.0.0.1:5672',
  );
  assert.equal(healthDetail(502, 'Bad Gateway\n'), 'HTTP 502: Bad Gateway', 'not a fleetcap app: its text');
});
