import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AgentConfigError,
  agentConfigFromRow,
  agentConfigToJson,
  parseAgentConfig,
  parseAgentConfigJson,
  safeAgentConfigFromRow,
  safeParseAgentConfig,
} from './agent-config.ts';

const minimal = { agentId: 'host-1', device: 'eth0', splitcapUrl: 'http://127.0.0.1:8080', revision: 3 };

test('defaults fill what the row defaults are', () => {
  assert.deepEqual(parseAgentConfig(minimal), {
    ...minimal,
    bpfFilter: '',
    snaplen: 262144,
    batchPackets: 1000,
    batchMs: 1000,
    uploadConcurrency: 2,
    enabled: true,
  });
});

test('every problem is named with its field', () => {
  const r = safeParseAgentConfig({
    agentId: 'bad id',
    device: 'a/b',
    splitcapUrl: 'ftp://x',
    snaplen: 10,
    batchPackets: 1.5,
    batchMs: '100',
    uploadConcurrency: 0,
    revision: -1,
    extra: 1,
  });
  assert.equal(r.ok, false);
  if (r.ok) return;
  const text = r.error.issues.join('\n');
  assert.match(text, /^agentId: agentId must be 1-64 characters/m);
  assert.match(text, /^device: device must be a network interface name/m);
  assert.match(text, /^splitcapUrl: splitcapUrl must use http or https/m);
  assert.match(text, /^snaplen: snaplen must be at least 96/m);
  assert.match(text, /^batchPackets: batchPackets must be a whole number/m);
  assert.match(text, /^batchMs: batchMs must be a number/m);
  assert.match(text, /^uploadConcurrency: uploadConcurrency must be at least 1/m);
  assert.match(text, /^revision: revision must be at least 0/m);
  assert.match(text, /unknown field\(s\) extra/);
});

test('missing fields say they are required', () => {
  const r = safeParseAgentConfig({});
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(
    r.error.issues.filter((i) => i.includes('required')),
    [
      'agentId: agentId is required',
      'device: device is required',
      'splitcapUrl: splitcapUrl is required',
      'revision: revision is required',
    ],
  );
});

test('a filter with a newline or NUL is refused', () => {
  assert.throws(() => parseAgentConfig({ ...minimal, bpfFilter: 'udp\nor tcp' }), /bpfFilter must be one line/);
});

test('JSON text: a syntax error is an AgentConfigError too', () => {
  assert.throws(
    () => parseAgentConfigJson('{nope'),
    (err: unknown) => err instanceof AgentConfigError && /not JSON/.test(err.message),
  );
  assert.equal(parseAgentConfigJson(JSON.stringify(minimal)).agentId, 'host-1');
});

test('toJson round-trips with a stable field order', () => {
  const json = agentConfigToJson(parseAgentConfig({ ...minimal, bpfFilter: 'udp' }));
  assert.equal(
    json,
    '{"agentId":"host-1","device":"eth0","bpfFilter":"udp","splitcapUrl":"http://127.0.0.1:8080","snaplen":262144,"batchPackets":1000,"batchMs":1000,"uploadConcurrency":2,"enabled":true,"revision":3}',
  );
  assert.deepEqual(parseAgentConfigJson(json), parseAgentConfig({ ...minimal, bpfFilter: 'udp' }));
});

test('a sniffer_config row maps to the config (mysql2 and Debezium shapes)', () => {
  const fromMysql = agentConfigFromRow({
    agent_id: 'host-1',
    device: 'eth0',
    bpf_filter: 'tcp port 80',
    splitcap_url: 'http://splitcap:8080',
    snaplen: 65535,
    batch_packets: 500,
    batch_ms: 250,
    upload_concurrency: 4,
    enabled: 1,
    revision: '17',
    created_at: new Date(),
    updated_at: new Date(),
  });
  assert.deepEqual(fromMysql, {
    agentId: 'host-1',
    device: 'eth0',
    bpfFilter: 'tcp port 80',
    splitcapUrl: 'http://splitcap:8080',
    snaplen: 65535,
    batchPackets: 500,
    batchMs: 250,
    uploadConcurrency: 4,
    enabled: true,
    revision: 17,
  });
  const disabled = agentConfigFromRow({
    agent_id: 'h',
    device: 'lo',
    bpf_filter: null,
    splitcap_url: 'http://x:1',
    enabled: 0,
    revision: 1n,
  });
  assert.equal(disabled.enabled, false);
  assert.equal(disabled.bpfFilter, '');
  assert.equal(disabled.revision, 1);
});

test('a bad row is reported, not thrown, by the safe variant', () => {
  const r = safeAgentConfigFromRow({ agent_id: 'h', device: 'lo', splitcap_url: 'nope', revision: 1, batch_ms: 0 });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.match(r.error.message, /splitcapUrl: splitcapUrl must be an absolute URL/);
  assert.match(r.error.message, /batchMs: batchMs must be at least 10/);
});
