import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '@fleetcap/lib/config/connections';
import { loadConsoleConfig } from './config.ts';

test('the console needs its certificate, key and session secret file, and says where stack up makes them', () => {
  assert.throws(
    () => loadConsoleConfig({}),
    (err: Error) =>
      err instanceof ConfigError &&
      /FLEETCAP_CONSOLE_TLS_CERT/.test(err.message) &&
      /FLEETCAP_CONSOLE_TLS_KEY/.test(err.message) &&
      /FLEETCAP_CONSOLE_SESSION_SECRET_FILE/.test(err.message) &&
      /stack up makes/.test(err.message),
  );
  const c = loadConsoleConfig({
    FLEETCAP_CONSOLE_TLS_CERT: 'c.crt',
    FLEETCAP_CONSOLE_TLS_KEY: 'c.key',
    FLEETCAP_CONSOLE_SESSION_SECRET_FILE: 's',
  });
  assert.deepEqual(
    [c.FLEETCAP_CONSOLE_HOST, c.FLEETCAP_CONSOLE_PORT, c.FLEETCAP_CONSOLE_PAGE_ROWS],
    ['127.0.0.1', 8443, 50],
  );
  assert.throws(
    () =>
      loadConsoleConfig({
        FLEETCAP_CONSOLE_TLS_CERT: 'c',
        FLEETCAP_CONSOLE_TLS_KEY: 'k',
        FLEETCAP_CONSOLE_SESSION_SECRET_FILE: 's',
        FLEETCAP_CONSOLE_PAGE_ROWS: '5',
      }),
    /FLEETCAP_CONSOLE_PAGE_ROWS/,
  );
});
