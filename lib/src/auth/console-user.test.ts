import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkPassword,
  checkRole,
  checkUserName,
  generatePassword,
  hashPassword,
  verifyPassword,
} from './console-user.ts';

describe('console users', () => {
  it('stores an argon2id PHC hash that verifies the password and nothing else', async () => {
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

  it('refuses short passwords, bad names and unknown roles with what to do', () => {
    assert.throws(
      () => checkPassword('short'),
      /has 5 characters: at least 12 are needed \(or let fleetcap generate one\)/,
    );
    assert.throws(() => checkUserName('bob smith'), /"bob smith" is no console user name/);
    assert.throws(() => checkRole('root'), /role "root": choose viewer or admin/);
    assert.equal(checkRole('admin'), 'admin');
    checkPassword(generatePassword());
    assert.equal(generatePassword().length, 24);
  });
});
