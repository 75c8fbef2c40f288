import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { AgentPaths } from '@fleetcap/lib/agent/paths';
import { newAgentSecret, uploadToken } from '@fleetcap/lib/auth/agent-credential';
import { defaultAgentId, loadListenerOptions, snifferEnvironment } from './options.ts';
import { compileFilter, validateConfigText } from './validate.ts';

const fakeSys = mkdtempSync(join(tmpdir(), 'fleetcap-sysnet-'));
mkdirSync(join(fakeSys, 'lo'));
after(() => rmSync(fakeSys, { recursive: true, force: true }));

const cfg = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    agentId: 'a1',
    device: 'lo',
    bpfFilter: 'udp',
    splitcapUrl: 'http://127.0.0.1:8080',
    revision: 7,
    ...over,
  });
const opts = { agentId: 'a1', tcpdump: 'tcpdump', sysClassNet: fakeSys, uploadPlaintext: 'loopback' as const };

test('agent id defaults to the first label of the host name, made valid', () => {
  assert.equal(defaultAgentId('web-01.example.com'), 'web-01');
  assert.equal(defaultAgentId('_odd host'), 'odd-host');
  assert.equal(defaultAgentId(''), 'agent');
  assert.equal(loadListenerOptions({ FLEETCAP_AGENT_ID: 'x1' }).agentId, 'x1');
  assert.throws(() => loadListenerOptions({ FLEETCAP_AGENT_ID: 'bad id' }), /FLEETCAP_AGENT_ID="bad id"/);
});

test('paths: under /fleetcap by default, under FLEETCAP_ZK_ROOT when set (the same root as config-sync)', () => {
  const d = new AgentPaths(loadListenerOptions({ FLEETCAP_AGENT_ID: 'a1' }).zkRoot);
  assert.equal(d.config('a1'), '/fleetcap/agents/a1/config');
  assert.equal(d.live('a1'), '/fleetcap/agents/a1/live');
  const alt = new AgentPaths(
    loadListenerOptions({ FLEETCAP_AGENT_ID: 'a1', FLEETCAP_ZK_ROOT: '/fleetcap-alt' }).zkRoot,
  );
  assert.equal(alt.config('a1'), '/fleetcap-alt/agents/a1/config');
  assert.equal(alt.live('a1'), '/fleetcap-alt/agents/a1/live');
  assert.throws(
    () => loadListenerOptions({ FLEETCAP_AGENT_ID: 'a1', FLEETCAP_ZK_ROOT: 'fleetcap/' }),
    /FLEETCAP_ZK_ROOT="fleetcap\/": must be an absolute ZooKeeper path/,
  );
});

test('validation: schema errors keep the revision when there is one', async () => {
  const v = await validateConfigText(cfg({ batchMs: 0 }), opts);
  assert.equal(v.ok, false);
  if (v.ok) return;
  assert.equal(v.revision, 7);
  assert.match(v.error, /batchMs: batchMs must be at least 10/);
  const j = await validateConfigText('{not json', opts);
  assert.equal(j.ok, false);
  if (!j.ok) assert.match(j.error, /not JSON/);
});

test('validation: a config for another agent, or a device that is not here, is refused', async () => {
  const other = await validateConfigText(cfg({ agentId: 'a2' }), opts);
  assert.equal(other.ok, false);
  if (!other.ok) assert.match(other.error, /revision 7: agentId "a2" is not this agent \("a1"\)/);
  const dev = await validateConfigText(cfg({ device: 'eth9' }), opts);
  assert.equal(dev.ok, false);
  if (!dev.ok) assert.match(dev.error, /revision 7: device "eth9" does not exist on this host/);
});

test('validation: the composed filter must compile with tcpdump -d for the device', async () => {
  assert.equal((await validateConfigText(cfg(), opts)).ok, true);
  const bad = await validateConfigText(cfg({ bpfFilter: 'udp and and' }), opts);
  assert.equal(bad.ok, false);
  if (!bad.ok)
    assert.match(
      bad.error,
      /revision 7: BPF filter "udp and and" does not compile on lo: can't parse filter expression: syntax error/,
    );
  assert.equal(await compileFilter('tcpdump', 'lo', 65535, 'tcp port 80'), null);
});

test('a disabled config is valid without looking at device or filter', async () => {
  const v = await validateConfigText(cfg({ enabled: false, device: 'gone0', bpfFilter: 'and' }), opts);
  assert.equal(v.ok, true);
});

test('validation: a plain http:// splitcapUrl is refused unless FLEETCAP_UPLOAD_PLAINTEXT allows it', async () => {
  const refused = await validateConfigText(cfg(), { ...opts, uploadPlaintext: 'refuse' });
  assert.equal(refused.ok, false);
  if (!refused.ok) assert.match(refused.error, /revision 7: splitcapUrl http:\/\/127\.0\.0\.1:8080 is plain HTTP/);
  const far = await validateConfigText(cfg({ splitcapUrl: 'http://10.0.0.1:8080' }), opts);
  assert.equal(far.ok, false);
  if (!far.ok) assert.match(far.error, /10\.0\.0\.1 is no loopback address/);
  assert.equal((await validateConfigText(cfg({ splitcapUrl: 'https://10.0.0.1:8443' }), opts)).ok, true);
  assert.equal(
    (await validateConfigText(cfg({ splitcapUrl: 'http://10.0.0.1:8080' }), { ...opts, uploadPlaintext: 'any' })).ok,
    true,
  );
});

test('the sniffer’s environment keeps nothing secret of the listener’s', () => {
  const env = snifferEnvironment({
    PATH: '/usr/bin',
    FLEETCAP_AGENT_SECRET: 'fca1_x',
    FLEETCAP_AGENT_SECRET_FILE: '/etc/fleetcap/agent.secret',
    FLEETCAP_AGENT_TOKEN: 't',
    FLEETCAP_MYSQL_ADMIN_PASSWORD: 'p',
    FLEETCAP_AMQP_URL: 'amqp://u:p@h',
    FLEETCAP_REDIS_URL: 'redis://:p@h',
    FLEETCAP_ZK_ROOT: '/r',
    FLEETCAP_SPOOL_DIR: '/s',
  });
  assert.deepEqual(env, { PATH: '/usr/bin', FLEETCAP_ZK_ROOT: '/r', FLEETCAP_SPOOL_DIR: '/s' });
});

test('an agent secret gives the upload token and the ZooKeeper credential; a token and a secret together are refused', () => {
  const secret = newAgentSecret();
  const o = loadListenerOptions({ FLEETCAP_AGENT_ID: 'a1', FLEETCAP_AGENT_SECRET: secret });
  assert.equal(o.uploadToken, uploadToken(secret));
  assert.match(o.zkCredentials ?? '', /^agent\.a1:[A-Za-z0-9_-]{43}$/);
  assert.throws(
    () => loadListenerOptions({ FLEETCAP_AGENT_ID: 'a1', FLEETCAP_AGENT_SECRET: secret, FLEETCAP_AGENT_TOKEN: 'x' }),
    /not both: the upload token is derived from the secret/,
  );
  assert.throws(() => loadListenerOptions({ FLEETCAP_AGENT_SECRET: 'hunter2' }), /not one fleetcap agents add prints/);
  assert.equal(loadListenerOptions({ FLEETCAP_AGENT_TOKEN: 'dev-token' }).zkCredentials, undefined);
});
