import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashPassword, matchesDigest, sha256, sha256Hex, verifyPassword } from './credential-hash.ts';

describe('credential hashes', () => {
  it('a password: an argon2id PHC hash that verifies the password and nothing else', async () => {
    const hash = await hashPassword('correct horse battery');
    assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.ok(!hash.includes('correct horse'));
    assert.equal(await verifyPassword(hash, 'correct horse battery'), true);
    assert.equal(await verifyPassword(hash, 'correct horse batterY'), false);
    assert.notEqual(await hashPassword('correct horse battery'), hash, 'a new salt each time');
    assert.equal(
      await verifyPassword('plain-text-in-the-row', 'plain-text-in-the-row'),
      false,
      'a hash edited by hand',
    );
  });

  it('no stored hash verifies nothing, and costs what a real check costs', async () => {
    const hash = await hashPassword('correct horse battery');
    await verifyPassword(null, 'warm-up');
    const time = async (f: () => Promise<unknown>) => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < 3; i++) await f();
      return Number(process.hrtime.bigint() - t0);
    };
    assert.equal(await verifyPassword(null, 'correct horse battery'), false);
    const none = await time(() => verifyPassword(null, 'a guess of a name'));
    const real = await time(() => verifyPassword(hash, 'a guess of a password'));
    // An argon2 check against the decoy, not an early return (which would be thousands of times faster).
    assert.ok(none > real / 10, `no hash: ${none} ns, a real hash: ${real} ns for 3 checks`);
  });

  it('a machine secret: SHA-256, compared in constant time, nothing matching when nothing is expected', () => {
    assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.deepEqual(sha256('abc'), Buffer.from(sha256Hex('abc'), 'hex'));
    assert.equal(matchesDigest('s3cret-token', sha256('s3cret-token')), true);
    assert.equal(matchesDigest('s3cret-tokeN', sha256('s3cret-token')), false);
    assert.equal(matchesDigest('', sha256('s3cret-token')), false);
    assert.equal(matchesDigest('\0nothing expected', undefined), false, 'not even the decoy digest matches');
  });
});
