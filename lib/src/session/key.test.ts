import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  agentSessionKey,
  canonicalDirection,
  DIRECTION_A_TO_B,
  DIRECTION_B_TO_A,
  encodeSessionKey,
  parseAgentSessionKey,
  parseSessionKey,
  SessionKeyError,
  sessionKeyOf,
} from './key.ts';

describe('session key', () => {
  it('is the same for both directions of a conversation', () => {
    const forward = sessionKeyOf('tcp', '10.0.0.2', 51000, '10.0.0.1', 443);
    const backward = sessionKeyOf('tcp', '10.0.0.1', 443, '10.0.0.2', 51000);
    assert.equal(forward, backward);
    assert.equal(forward, 'tcp/10.0.0.1/443/10.0.0.2/51000');
  });

  it('tells TCP from UDP and orders equal addresses by port', () => {
    assert.notEqual(sessionKeyOf('tcp', 'a', 1, 'b', 2), sessionKeyOf('udp', 'a', 1, 'b', 2));
    assert.equal(sessionKeyOf('udp', '127.0.0.1', 9000, '127.0.0.1', 53), 'udp/127.0.0.1/53/127.0.0.1/9000');
  });

  it('round-trips through its text form, IPv6 included', () => {
    const keys = [
      { proto: 'tcp' as const, a: { address: '10.0.0.1', port: 443 }, b: { address: '10.0.0.2', port: 51000 } },
      { proto: 'udp' as const, a: { address: '2001:db8::1', port: 53 }, b: { address: 'fe80::1', port: 0 } },
      { proto: 'udp' as const, a: { address: '::', port: 0 }, b: { address: '::', port: 65535 } },
      {
        proto: 'tcp' as const,
        a: { address: '::ffff:c000:201', port: 80 },
        b: { address: '::ffff:c000:202', port: 80 },
      },
    ];
    for (const key of keys) {
      const text = encodeSessionKey(key);
      assert.deepEqual(parseSessionKey(text), key);
      assert.equal(encodeSessionKey(parseSessionKey(text)), text);
      assert.doesNotMatch(text, /[\s{}]/, 'usable inside a Redis key and a {hash tag}');
    }
  });

  it('encodes any endpoint order canonically', () => {
    const key = { proto: 'tcp' as const, a: { address: '10.0.0.9', port: 1 }, b: { address: '10.0.0.1', port: 2 } };
    assert.equal(encodeSessionKey(key), 'tcp/10.0.0.1/2/10.0.0.9/1');
  });

  it('rejects text it would not have produced', () => {
    for (const bad of [
      '',
      'tcp/10.0.0.1/1/10.0.0.2',
      'icmp/10.0.0.1/1/10.0.0.2/2',
      'tcp/10.0.0.1/70000/10.0.0.2/2',
      'tcp/10.0.0.1/01/10.0.0.2/2',
      'tcp/10.0.0.1/-1/10.0.0.2/2',
      'tcp/10.0.0.1/1.5/10.0.0.2/2',
      'tcp//1/10.0.0.2/2',
      'tcp/10.0.0.2/1/10.0.0.1/2',
      'tcp/10.0.0.1/1/10.0.0.2/2/x',
    ]) {
      assert.throws(() => parseSessionKey(bad), SessionKeyError, bad);
    }
  });

  it('gives each packet its direction relative to the canonical order', () => {
    assert.equal(canonicalDirection('10.0.0.1', 443, '10.0.0.2', 5), DIRECTION_A_TO_B);
    assert.equal(canonicalDirection('10.0.0.2', 5, '10.0.0.1', 443), DIRECTION_B_TO_A);
    assert.equal(canonicalDirection('2001:db8::2', 1, '2001:db8::10', 1), DIRECTION_B_TO_A);
  });

  it('names a session of one agent as agent/key, which parses back and sits in a hash tag', () => {
    const key = 'tcp/2001:db8::1/443/2001:db8::2/51000';
    const text = agentSessionKey('host-1.example_a', key);
    assert.equal(text, `host-1.example_a/${key}`);
    assert.deepEqual(parseAgentSessionKey(text), { agent: 'host-1.example_a', key: parseSessionKey(key) });
    assert.notEqual(agentSessionKey('host-2', key), text, 'two agents, two sessions');
    assert.doesNotMatch(text, /[\s{}]/);
  });

  it('refuses an agent id that is not one, and a key it would not have produced', () => {
    const key = 'udp/10.0.0.1/53/10.0.0.2/40000';
    for (const agent of ['', 'a/b', '{a}', '.hidden', 'has space', 'x'.repeat(65)]) {
      assert.throws(() => agentSessionKey(agent, key), /agent id .* is not 1-64 letters/, agent);
    }
    assert.equal(agentSessionKey('x'.repeat(64), key).length, 65 + key.length);
    for (const bad of ['', key, `/${key}`, 'host-1/tcp/10.0.0.2/1/10.0.0.1/2', 'host-1']) {
      assert.throws(() => parseAgentSessionKey(bad), SessionKeyError, bad);
    }
  });
});
