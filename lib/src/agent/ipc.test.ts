// The listener <-> sniffer messages: what each side sends parses back as is; anything else is dropped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  emptyCounters,
  type ListenerMessage,
  parseListenerMessage,
  parseSnifferMessage,
  type SnifferMessage,
} from './ipc.ts';

test('every sniffer message parses back as sent', () => {
  const counters = { ...emptyCounters(), captured: 12, kernelDrops: 1 };
  const sent: SnifferMessage[] = [
    { type: 'standby' },
    { type: 'capturing', revision: 3, filter: 'udp and not (host ::1 and tcp port 80)', sinceMs: 1_700_000_000_000 },
    { type: 'capture-stopped', counters },
    { type: 'counters', counters },
    { type: 'error', message: 'capture did not start: no such device' },
    { type: 'stopped', counters, drained: true },
  ];
  for (const m of sent) assert.deepEqual(parseSnifferMessage(structuredClone(m)), m);
});

test('every listener message parses back as sent', () => {
  const sent: ListenerMessage[] = [
    { type: 'start', config: '{"agentId":"a1"}', handOver: true },
    { type: 'cut', atMs: 1_700_000_000_123 },
    { type: 'rescan' },
  ];
  for (const m of sent) assert.deepEqual(parseListenerMessage(structuredClone(m)), m);
});

test('unknown types, missing fields and bad counters are dropped', () => {
  assert.equal(parseSnifferMessage({ type: 'hello' }), null);
  assert.equal(parseSnifferMessage({ type: 'capturing', revision: 3 }), null);
  assert.equal(parseSnifferMessage({ type: 'counters', counters: { ...emptyCounters(), captured: -1 } }), null);
  assert.equal(parseSnifferMessage({ type: 'counters', counters: { captured: 1 } }), null);
  assert.equal(parseSnifferMessage('standby'), null);
  assert.equal(parseSnifferMessage(null), null);
  assert.equal(parseListenerMessage({ type: 'cut' }), null);
  assert.equal(parseListenerMessage({ type: 'start', config: {}, handOver: false }), null);
  assert.equal(parseListenerMessage({ type: 'standby' }), null, "a sniffer's message is not the listener's");
});
