import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SessionKeyError } from '../session/key.ts';
import { decodePacketRecord, encodePacketRecordTail, META, RECORD, receiptKey, sessionKeys } from './layout.ts';
import { buildSession } from './reader.ts';
import { APPEND_SESSION, FINISH_SESSION, LOAD_SESSION, LOAD_SESSIONS, SESSION_SCRIPTS } from './scripts.ts';

/** The part of a Redis key that Cluster hashes: the first {…} with something in it. */
function hashTag(redisKey: string): string {
  const open = redisKey.indexOf('{');
  const close = redisKey.indexOf('}', open + 1);
  return open >= 0 && close > open + 1 ? redisKey.slice(open + 1, close) : redisKey;
}

const message = {
  key: 'tcp/10.0.0.2/443/10.0.0.9/51000',
  reason: 'full' as const,
  occurrence: 1732451234567890,
  agent: 'a1',
  communityId: '1:message+community+id+placeholder=',
  enqueuedAt: 1,
};
const meta = {
  agent: 'a1',
  community_id: '1:wCb3OG7yAFWelaUydu0D+125CLM=',
  initiator: '1', // endpoint b (10.0.0.9:51000) sent the first packet
  occurrence: '1732451234567890',
  first: '1732451234567890',
  last: '1732451235000001',
  packets: '24',
  overflow: '6',
  bytes: '9000',
};
// Stored directions are canonical: 1 = b to a, i.e. from the initiator (side b) here.
const members = [
  '1:1:1732451234567890:74:0:2:1:',
  '2:0:1732451234600000:74:0:18:1:',
  '3:1:1732451234700000:66:0:16:1:',
];

describe('reading a stored session', () => {
  test('a stored session becomes client/server endpoints, counts and packet records', () => {
    const s = buildSession(message, meta, members);
    assert.deepEqual(s.client, { address: '10.0.0.9', port: 51000 }, 'the initiator is the client');
    assert.deepEqual(s.server, { address: '10.0.0.2', port: 443 });
    assert.equal(s.proto, 'tcp');
    assert.equal(s.packetsSeen, 30, 'kept plus overflow');
    assert.equal(s.bytes, 9000);
    assert.equal(s.agent, 'a1');
    assert.equal(s.communityId, '1:wCb3OG7yAFWelaUydu0D+125CLM=', 'the Community ID stored with the session');
    assert.deepEqual(s.packets[1], {
      seq: 2,
      direction: 1,
      tsUs: 1732451234600000,
      wireLength: 74,
      payloadLength: 0,
      tcpFlags: 18,
      linktype: 1,
      frame: Buffer.alloc(0),
    });
  });

  test('a session stored without a Community ID takes the message’s', () => {
    const { community_id: _, ...older } = meta;
    assert.equal(buildSession(message, older, members).communityId, message.communityId);
  });

  test('a corrupt packet record is an error naming the record', () => {
    assert.throws(() => buildSession(message, meta, ['1:0:oops:74:0:2']), /packet record "1:0:oops:74:0:2"/);
    assert.throws(
      () => buildSession(message, { ...meta, bytes: 'x' }, members),
      /meta field bytes="x" is not a number/,
    );
  });
});

describe('the layout the scripts and the readers share', () => {
  test('every key of a session is named by agent and session key, in one hash tag; receipts in their agent', () => {
    const key = 'udp/10.0.0.1/53/10.0.0.2/40000';
    const k = sessionKeys({ agent: 'host-1', key }, 'it');
    assert.deepEqual(k, {
      packets: 'it:s:{host-1/udp/10.0.0.1/53/10.0.0.2/40000}:p',
      meta: 'it:s:{host-1/udp/10.0.0.1/53/10.0.0.2/40000}:m',
      batches: 'it:s:{host-1/udp/10.0.0.1/53/10.0.0.2/40000}:b',
      done: 'it:s:{host-1/udp/10.0.0.1/53/10.0.0.2/40000}:d',
      record: 'it:s:{host-1/udp/10.0.0.1/53/10.0.0.2/40000}:c',
    });
    const tags = new Set(Object.values(k).map(hashTag));
    assert.deepEqual([...tags], ['host-1/udp/10.0.0.1/53/10.0.0.2/40000'], 'one Cluster slot for the whole session');
    assert.equal(
      sessionKeys({ agent: 'a', key: 'tcp/::1/1/::2/2' }).meta,
      'fc:s:{a/tcp/::1/1/::2/2}:m',
      'fc is the default prefix',
    );
    assert.equal(receiptKey('host-1', 'b-1'), 'fc:receipt:{host-1}:b-1');
    assert.equal(receiptKey('host-1', 'b-1', 'it'), 'it:receipt:{host-1}:b-1');
  });

  test('two agents seeing one conversation hold two sessions that share no key, and no slot by necessity', () => {
    const key = 'tcp/10.0.0.1/443/10.0.0.2/51000';
    const a = Object.values(sessionKeys({ agent: 'host-a', key }));
    const b = Object.values(sessionKeys({ agent: 'host-b', key }));
    assert.equal(new Set([...a, ...b]).size, 10);
    assert.notEqual(hashTag(a[0]!), hashTag(b[0]!));
    // Nor any key of the layout before agent-scoped sessions (fc:s:{K}:…), even for an agent named like a protocol.
    const legacy = ['p', 'm', 'b', 'd'].map((suffix) => `fc:s:{${key}}:${suffix}`);
    const tcpAgent = Object.values(sessionKeys({ agent: 'tcp', key: 'tcp/10.0.0.1/1/10.0.0.2/2' }));
    assert.equal(new Set([...a, ...b, ...tcpAgent, ...legacy]).size, 19);
  });

  test('a session of an agent id that is not one has no keys', () => {
    for (const agent of ['', 'a/b', 'a{b}', '-x', 'a b', 'x'.repeat(65)])
      assert.throws(() => sessionKeys({ agent, key: 'tcp/10.0.0.1/1/10.0.0.2/2' }), SessionKeyError, agent);
  });

  test('a packet record reads back as splitcap wrote it, frame bytes and all, once the script numbered it', () => {
    // Every byte value, colons included: the frame is binary and must come back as it went in.
    const frame = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7 + 0x3a) & 0xff));
    const tail = encodePacketRecordTail(1, '1732451234567890', 1514, 1448, 0x18, 1, frame);
    const record = decodePacketRecord(Buffer.concat([Buffer.from('7:'), tail]));
    assert.deepEqual(
      { ...record, frame: undefined },
      {
        seq: 7,
        direction: 1,
        tsUs: 1732451234567890,
        wireLength: 1514,
        payloadLength: 1448,
        tcpFlags: 0x18,
        linktype: 1,
        frame: undefined,
      },
    );
    assert.deepEqual(record.frame, frame);
    assert.equal(
      decodePacketRecord(Buffer.concat([Buffer.from('8:'), encodePacketRecordTail(0, '5', 60, 0, 2, 113)])).frame
        .length,
      0,
    );
  });

  test('a record of the layout before frames reads with no frame; a malformed one says what it holds', () => {
    const old = decodePacketRecord('7:1:1732451234567890:1514:1448:24');
    assert.equal(old.linktype, -1);
    assert.equal(old.frame.length, 0);
    assert.equal(old.payloadLength, 1448);
    assert.throws(
      () => decodePacketRecord('7:1:5:60'),
      /expected "seq:dir:tsUs:wire:payload:flags:linktype:" and the frame, found 4 fields/,
    );
    assert.throws(() => decodePacketRecord('7:2:5:60:0:2:1:'), /direction 0 or 1/);
    assert.throws(() => decodePacketRecord('7:1:5:60:0:2:x:'), /non-negative integers/);
  });

  test('the append script writes every meta field the readers know, by the same names', () => {
    const code = APPEND_SESSION.lua.slice(APPEND_SESSION.lua.indexOf(']]'));
    // Every lower-case string of the script's code is a meta field, a status or a schedule reason.
    const statusesAndReasons = ['ok', 'dup', 'done', 'delay', 'full', 'closed'];
    const fields = new Set([...code.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]!));
    for (const word of statusesAndReasons) fields.delete(word);
    // The connection record's batch list, read to know a retried batch of a finished occurrence.
    fields.delete(RECORD.batches);
    assert.deepEqual([...fields].sort(), Object.values(META).sort());
    assert.match(
      FINISH_SESSION.lua,
      new RegExp(`HMGET', KEYS\\[2\\], '${META.occurrence}', '${META.packets}', '${META.overflow}'`),
    );
    // The worker's load marks the occurrence by the field the append script reads; its batch form runs that script.
    assert.ok(LOAD_SESSIONS.lua.includes(`local loadSession = function(KEYS, ARGV)\n${LOAD_SESSION.lua}\nend`));
    assert.doesNotMatch(LOAD_SESSIONS.lua, /--LOAD_SESSION\n/, 'the marker is replaced');
    assert.match(LOAD_SESSION.lua, new RegExp(`meta\\[i\\] == '${META.occurrence}'`));
    assert.match(LOAD_SESSION.lua, new RegExp(`HSET', KEYS\\[2\\], '${META.loaded}', '1'`));
  });

  test('each script is read from beside the module, and its header states as many KEYS as its name says', () => {
    for (const s of SESSION_SCRIPTS) {
      assert.equal(new URL('.', s.file).href, new URL('.', import.meta.url).href, `${s.file} is beside the module`);
      const header = s.lua.slice(0, s.lua.indexOf(']]'));
      const keys = [...header.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1]));
      assert.deepEqual(
        keys,
        Array.from({ length: s.numberOfKeys }, (_, i) => i + 1),
        `${s.command}: KEYS`,
      );
      assert.match(header, /Input:[\s\S]*ARGV\[1\][\s\S]*Output:/, `${s.command}: ARGV and Output stated`);
      const used = Math.max(...[...s.lua.slice(header.length).matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1])));
      assert.equal(used, s.numberOfKeys, `${s.command} uses the KEYS its name says`);
    }
  });
});
