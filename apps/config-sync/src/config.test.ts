// config-sync's environment: defaults, and one clear line per bad variable.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '@fleetcap/lib/config/connections';
import { loadConfigSyncConfig } from './config.ts';

// ZooKeeper ACLs are on by default and need a password: these tests are about the other settings.
const open = { FLEETCAP_ZK_ACL: 'open' };

test('defaults', () => {
  const c = loadConfigSyncConfig(open);
  assert.equal(c.FLEETCAP_CONFIG_SYNC_GROUP, 'fleetcap-config-sync');
  assert.equal(c.FLEETCAP_CONFIG_SYNC_PORT, 8086);
  assert.equal(loadConfigSyncConfig({ ...open, FLEETCAP_CONFIG_SYNC_PORT: 'off' }).FLEETCAP_CONFIG_SYNC_PORT, 'off');
  assert.equal(loadConfigSyncConfig({ ...open, FLEETCAP_CONFIG_SYNC_PORT: '0' }).FLEETCAP_CONFIG_SYNC_PORT, 0);
  assert.equal(c.FLEETCAP_CONFIG_SYNC_FROM_BEGINNING, false);
  assert.equal(c.FLEETCAP_CONFIG_SYNC_RECONCILE, true);
  assert.equal(c.FLEETCAP_ZK_ROOT, '/fleetcap');
  assert.equal(
    loadConfigSyncConfig({ ...open, FLEETCAP_CONFIG_SYNC_RECONCILE: 'no' }).FLEETCAP_CONFIG_SYNC_RECONCILE,
    false,
  );
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
      assert.match(
        err.message,
        /FLEETCAP_CONFIG_SYNC_PORT="70000": must be a port number 0-65535 \(0: a free port the OS picks\) or off/,
      );
      assert.match(err.message, /FLEETCAP_CONFIG_SYNC_RECONCILE="maybe": must be true or false/);
      assert.match(err.message, /FLEETCAP_ZK_ROOT="fleetcap": must be an absolute ZooKeeper path/);
      assert.match(
        err.message,
        /FLEETCAP_CONFIG_SYNC_SESSION_TIMEOUT_MS="1000": must be a whole number of milliseconds from 6000 to 300000/,
      );
      return true;
    },
  );
});
