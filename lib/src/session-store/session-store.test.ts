import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodePacketRecord, encodePacketRecordTail, META, receiptKey, sessionKeys } from './layout.ts';
import { buildSession } from './reader.ts';
import { APPEND_SESSION, FINISH_SESSION, SESSION_SCRIPTS } from './scripts.ts';
import { storedSession } from './test-fixtures.ts';

const { message, meta, members } = storedSession;

describe('reading a stored session', () => {
  test('a stored session becomes client/server endpoints, counts and packet records', () => {
    const s = buildSession(message, meta, members);
    assert.deepEqual(s.client, { address: '10.0.0.9', port: 51000 }, 'the initiator is the client');
    assert.deepEqual(s.server, { address: '10.0.0.2', port: 443 });
    assert.equal(s.proto, 'tcp');
    assert.equal(s.packetsSeen, 30, 'kept plus overflow');
    assert.equal(s.bytes, 9000);
    assert.deepEqual(s.packets[1], {
      seq: 2,
      direction: 1,
      tsUs: 1732451234600000,
      wireLength: 74,
      payloadLength: 0,
      tcpFlags: 18,
    });
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
  test('every key of a session sits in its hash tag; receipts in their agent', () => {
    const k = sessionKeys('udp/10.0.0.1/53/10.0.0.2/40000', 'it');
    assert.deepEqual(k, {
      packets: 'it:s:{udp/10.0.0.1/53/10.0.0.2/40000}:p',
      meta: 'it:s:{udp/10.0.0.1/53/10.0.0.2/40000}:m',
      batches: 'it:s:{udp/10.0.0.1/53/10.0.0.2/40000}:b',
      done: 'it:s:{udp/10.0.0.1/53/10.0.0.2/40000}:d',
    });
    assert.equal(sessionKeys('k').meta, 'fc:s:{k}:m', 'fc is the default prefix');
    assert.equal(receiptKey('host-1', 'b-1'), 'fc:receipt:{host-1}:b-1');
    assert.equal(receiptKey('host-1', 'b-1', 'it'), 'it:receipt:{host-1}:b-1');
  });

  test('a packet record reads back as splitcap wrote it, once the script numbered it', () => {
    const tail = encodePacketRecordTail(1, '1732451234567890', 1514, 1448, 0x18);
    assert.deepEqual(decodePacketRecord(`7:${tail}`), {
      seq: 7,
      direction: 1,
      tsUs: 1732451234567890,
      wireLength: 1514,
      payloadLength: 1448,
      tcpFlags: 0x18,
    });
  });

  test('the append script writes every meta field the readers know, by the same names', () => {
    const code = APPEND_SESSION.lua.slice(APPEND_SESSION.lua.indexOf(']]'));
    // Every lower-case string of the script's code is a meta field, a status or a schedule reason.
    const statusesAndReasons = ['ok', 'dup', 'done', 'delay', 'full', 'closed'];
    const fields = new Set([...code.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]!));
    for (const word of statusesAndReasons) fields.delete(word);
    assert.deepEqual([...fields].sort(), Object.values(META).sort());
    assert.match(FINISH_SESSION.lua, new RegExp(`HGET', KEYS\\[2\\], '${META.occurrence}'`));
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
