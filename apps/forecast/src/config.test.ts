import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { forecastToken, loadForecastConfig } from './config.ts';

test('forecast listens beyond loopback only with a bearer token', () => {
  assert.equal(loadForecastConfig({}).FLEETCAP_FORECAST_HOST, '127.0.0.1');
  assert.throws(
    () => loadForecastConfig({ FLEETCAP_FORECAST_HOST: '0.0.0.0' }),
    /forecast would listen on 0\.0\.0\.0 with no credential: set FLEETCAP_FORECAST_TOKEN_FILE/,
  );
  const file = join(mkdtempSync(join(tmpdir(), 'fleetcap-forecast-')), 'token');
  writeFileSync(file, 'a-forecast-token-123\n', { mode: 0o600 });
  const config = loadForecastConfig({ FLEETCAP_FORECAST_HOST: '0.0.0.0', FLEETCAP_FORECAST_TOKEN_FILE: file });
  assert.equal(forecastToken(config), 'a-forecast-token-123');
});
