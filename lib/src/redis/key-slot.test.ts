import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc16, keySlot } from './key-slot.ts';

test("CRC16-XMODEM as the cluster specification gives it, and the slots of Redis's own examples", () => {
  assert.equal(crc16(Buffer.from('123456789')), 0x31c3, 'the specification check value');
  assert.equal(keySlot('foo'), 12182);
  assert.equal(keySlot('bar'), 5061);
  assert.equal(keySlot('{user1000}.following'), keySlot('user1000'), 'the hash tag decides');
  assert.equal(keySlot('foo{}{bar}'), keySlot('foo{}{bar}'.slice(0)), 'an empty first tag: the whole key');
  assert.notEqual(keySlot('foo{}{bar}'), keySlot('bar'));
  assert.equal(keySlot('foo{{bar}}zap'), keySlot('{bar'), 'the tag ends at the first } after the first {');
});
