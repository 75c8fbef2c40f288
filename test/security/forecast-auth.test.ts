// forecast's API against the real app: beyond loopback it refuses to start without a credential; with its bearer
// token (a 0600 file, as compose gives it), a request with no token or another one is refused (401), logged as
// forecast.auth-refused and counted in fleetcap_forecast_auth_refusals_total; the token's owner is served.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { metricValue } from '../helpers/security.ts';

const work = mkdtempSync(join(tmpdir(), 'fleetcap-sec-forecast-'));
const token = randomBytes(24).toString('base64url');
const tokenFile = join(work, 'forecast-token.password');
let app: RunningApp | undefined;

before(() => writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 }));
after(async () => {
  await app?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('beyond loopback forecast refuses to start without a credential', async () => {
  await assert.rejects(
    startApp('forecast', { FLEETCAP_FORECAST_PORT: '0', FLEETCAP_FORECAST_HOST: '0.0.0.0' }),
    /forecast would listen on 0\.0\.0\.0 with no credential: set FLEETCAP_FORECAST_TOKEN_FILE/,
  );
});

test('with its token: no token and a wrong one are refused (401), logged and counted; the right one is served', async () => {
  app = await startApp('forecast', {
    FLEETCAP_FORECAST_PORT: '0',
    FLEETCAP_FORECAST_HOST: '0.0.0.0',
    FLEETCAP_FORECAST_TOKEN_FILE: tokenFile,
  });
  const base = `http://127.0.0.1:${app.port}`;
  const refusals = async () =>
    metricValue(await (await fetch(`${base}/metrics`)).text(), 'fleetcap_forecast_auth_refusals_total');
  assert.equal(await refusals(), 0);
  const none = await fetch(`${base}/v1/model`);
  assert.equal(none.status, 401);
  assert.match(((await none.json()) as { error: string }).error, /a bearer token is required/);
  const wrong = await fetch(`${base}/v1/forecast`, {
    method: 'POST',
    headers: { authorization: `Bearer ${randomBytes(24).toString('base64url')}`, 'content-type': 'application/json' },
    body: '{"sessions":[]}',
  });
  assert.equal(wrong.status, 401);
  assert.equal(await refusals(), 2);
  assert.match(app.output(), /"code":"forecast\.auth-refused".*"path":"\/model"/);
  const right = await fetch(`${base}/v1/model`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(right.status, 200);
  assert.equal(await refusals(), 2);
  // /metrics itself asks for no credential (docs/OPERATIONS.md, "What /metrics exposes": keep it off agent networks).
  assert.doesNotMatch(await (await fetch(`${base}/metrics`)).text(), new RegExp(token));
});
