import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { AgentPaths } from '@fleetcap/lib/agent/paths';
import { defaultAgentId, loadListenerOptions } from './options.ts';
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
const opts = { agentId: 'a1', tcpdump: 'tcpdump', sysClassNet: fakeSys };

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
