import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyCounters, type SnifferCounters } from '@fleetcap/lib/agent/ipc';
import { createListenerMetrics } from './metrics.ts';
import { loadListenerOptions } from './options.ts';

function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  assert.ok(line, `${name} is exported`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

test("the listener's /metrics carries the sniffers' kernel drops and counters, read at scrape time", async () => {
  let counters: SnifferCounters = emptyCounters();
  let connected = false;
  const { registry } = createListenerMetrics({
    zookeeperConnected: () => connected,
    appliedRevision: () => null,
    capturing: () => false,
    snifferRestarts: () => 2,
    counters: () => counters,
  });
  let text = await registry.metrics();
  assert.equal(sample(text, 'fleetcap_agent_kernel_drops'), 0);
  assert.equal(sample(text, 'fleetcap_listener_applied_revision'), -1);
  assert.equal(sample(text, 'fleetcap_listener_zookeeper_connected'), 0);
  assert.equal(sample(text, 'fleetcap_listener_sniffer_restarts'), 2);

  // What the supervisor sums from the sniffers' 'counters' messages (SnifferCounters.kernelDrops = pcap ps_drop).
  counters = { ...emptyCounters(), captured: 1000, kernelDrops: 17, batchesUploaded: 4, spooled: 1, spoolDropped: 3 };
  connected = true;
  text = await registry.metrics();
  assert.equal(sample(text, 'fleetcap_agent_kernel_drops'), 17);
  assert.equal(sample(text, 'fleetcap_agent_captured'), 1000);
  assert.equal(sample(text, 'fleetcap_agent_batches_uploaded'), 4);
  assert.equal(sample(text, 'fleetcap_agent_spooled'), 1);
  assert.equal(sample(text, 'fleetcap_agent_spool_dropped'), 3);
  assert.equal(sample(text, 'fleetcap_listener_zookeeper_connected'), 1);
  assert.match(text, /fleetcap_agent_kernel_drops\{app="listener"\} 17/);
  // prom-client's process metrics, prefixed like the other apps'.
  assert.match(text, /^fleetcap_process_cpu_seconds_total/m);
});

test('metrics address: off and on loopback unless told otherwise', () => {
  const d = loadListenerOptions({ FLEETCAP_AGENT_ID: 'x1' });
  assert.equal(d.metricsPort, 'off');
  assert.equal(d.metricsHost, '127.0.0.1');
  const c = loadListenerOptions({
    FLEETCAP_AGENT_ID: 'x1',
    FLEETCAP_LISTENER_METRICS_PORT: '8095',
    FLEETCAP_LISTENER_METRICS_HOST: '0.0.0.0',
  });
  assert.equal(c.metricsPort, 8095);
  assert.equal(c.metricsHost, '0.0.0.0');
  assert.equal(loadListenerOptions({ FLEETCAP_AGENT_ID: 'x1', FLEETCAP_LISTENER_METRICS_PORT: '0' }).metricsPort, 0);
});
