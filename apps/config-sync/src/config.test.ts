// config-sync's environment: defaults, and one clear line per bad variable.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '@fleetcap/lib/config/connections';
import { loadConfigSyncConfig } from './config.ts';

test('defaults', () => {
  const c = loadConfigSyncConfig({});
  assert.equal(c.FLEETCAP_CONFIG_SYNC_GROUP, 'fleetcap-config-sync');
  assert.equal(c.FLEETCAP_CONFIG_SYNC_PORT, 8086);
  assert.equal(c.FLEETCAP_CONFIG_SYNC_FROM_BEGINNING, false);
  assert.equal(c.FLEETCAP_CONFIG_SYNC_RECONCILE, true);
  assert.equal(c.FLEETCAP_ZK_ROOT, '/fleetcap');
  assert.equal(loadConfigSyncConfig({ FLEETCAP_CONFIG_SYNC_RECONCILE: 'no' }).FLEETCAP_CONFIG_SYNC_RECONCILE, false);
});

test('bad values are named with what was given and what is allowed', () => {
  assert.throws(
    () =>
      loadConfigSyncConfig({
        FLEETCAP_CONFIG_SYNC_PORT: '70000',
        FLEETCAP_CONFIG_SYNC_RECONCILE: 'maybe',
        FLEETCAP_ZK_ROOT: 'fleetcap',
        FLEETCAP_CONFIG_SYNC_SESSION_TIMEOUT_MS: '1000',
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /FLEETCAP_CONFIG_SYNC_PORT="70000": Number must be less than or equal to 65535/);
      assert.match(err.message, /FLEETCAP_CONFIG_SYNC_RECONCILE="maybe": must be true or false/);
      assert.match(err.message, /FLEETCAP_ZK_ROOT="fleetcap": must be an absolute ZooKeeper path/);
      assert.match(
        err.message,
        /FLEETCAP_CONFIG_SYNC_SESSION_TIMEOUT_MS="1000": Number must be greater than or equal to 6000/,
      );
      return true;
    },
  );
});
