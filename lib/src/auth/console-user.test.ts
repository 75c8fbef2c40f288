import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkPassword, checkRole, checkUserName, generatePassword } from './console-user.ts';

describe('console users', () => {
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
