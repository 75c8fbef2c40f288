import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodePacketRecordTail } from './layout.ts';
import { APPEND_SESSION, APPEND_SESSIONS } from './scripts.ts';
import { packPackets } from './writer.ts';

/** packPackets read back as append-session-5.lua reads ARGV[13] (struct.unpack('>Bc0I4c0')). */
function unpack(packed: Buffer): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  let at = 0;
  while (at < packed.length) {
    const scoreLength = packed[at]!;
    const score = packed.subarray(at + 1, at + 1 + scoreLength).toString('latin1');
    at += 1 + scoreLength;
    const memberLength = packed.readUInt32BE(at);
    out.push([score, packed.subarray(at + 4, at + 4 + memberLength)]);
    at += 4 + memberLength;
  }
  return out;
}

describe('the append scripts’ packed packets', () => {
  test('each packet is its capture time and its member, in order, whatever bytes the frame holds', () => {
    const frames = [Buffer.alloc(0), Buffer.from([0, 0x3a, 0xff, 13, 10]), Buffer.alloc(2048, 0xab)];
    const args: (string | Buffer)[] = [];
    for (const [i, frame] of frames.entries()) {
      const ts = String(1732451234567890 + i);
      args.push(ts, encodePacketRecordTail(i % 2 === 0 ? 0 : 1, ts, 1514, 0, 0x18, 1, frame));
    }
    args.push('5', 'a member given as text');
    const unpacked = unpack(packPackets(args));
    assert.equal(unpacked.length, 4);
    for (const [i, [score, member]] of unpacked.entries()) {
      assert.equal(score, args[i * 2]);
      const given = args[i * 2 + 1]!;
      assert.deepEqual(member, typeof given === 'string' ? Buffer.from(given, 'latin1') : Buffer.from(given));
    }
    assert.equal(packPackets([]).length, 0);
  });

  test('the batch script runs the per-session script itself, so the two cannot differ', () => {
    assert.match(APPEND_SESSIONS.lua, /^#!lua flags=allow-cross-slot-keys\n/, 'the shebang is the first line');
    assert.ok(APPEND_SESSIONS.lua.includes(`local appendSession = function(KEYS, ARGV)\n${APPEND_SESSION.lua}\nend`));
    assert.doesNotMatch(APPEND_SESSIONS.lua, /--APPEND_SESSION\n/, 'the marker is replaced');
    // The per-session script reads its packets from ARGV[12] and ARGV[13], the last of the nine the batch script
    // passes per session after the four shared ones.
    assert.match(APPEND_SESSION.lua, /local given = tonumber\(ARGV\[12\]\)/);
    assert.match(APPEND_SESSION.lua, /struct\.unpack\('>Bc0I4c0', packed, at\)/);
    assert.match(APPEND_SESSIONS.lua, /for j = 1, 9 do argv\[4 \+ j\] = ARGV\[a \+ j\] end/);
  });
});
