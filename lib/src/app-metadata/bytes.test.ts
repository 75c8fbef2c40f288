import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ascii, indexOfLf } from './bytes.ts';

describe('bytes', () => {
  it('ascii is one character per byte (latin1), for short and long ranges', () => {
    const bytes = Uint8Array.from({ length: 10_000 }, (_, i) => i % 256);
    assert.equal(ascii(bytes, 3, 7), Buffer.from(bytes.subarray(3, 7)).toString('latin1'));
    assert.equal(ascii(bytes, 5, 9_999), Buffer.from(bytes.subarray(5, 9_999)).toString('latin1'));
    assert.equal(ascii(bytes, 4, 4), '');
  });

  it('indexOfLf finds a line end only within [from, to)', () => {
    const b = Buffer.from('ab\ncd\n');
    assert.equal(indexOfLf(b, 0, 6), 2);
    assert.equal(indexOfLf(b, 3, 6), 5);
    assert.equal(indexOfLf(b, 3, 5), -1, 'the LF at 5 is past the end');
    assert.equal(indexOfLf(b, 4, 4), -1);
    assert.equal(indexOfLf(b, 7, 9), -1);
  });
});
