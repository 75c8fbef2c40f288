import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { snifferEntry } from './sniffer-entry.ts';

describe('snifferEntry', () => {
  test('a compiled listener forks the bundle beside dist/main.js when the build made it', () => {
    assert.equal(
      snifferEntry('/app/apps/sniffer/dist/main.js', (p) => p === '/app/apps/sniffer/dist/main.bundle.mjs'),
      '/app/apps/sniffer/dist/main.bundle.mjs',
    );
  });

  test('without the bundle (tsc -b alone) it forks dist/main.js', () => {
    assert.equal(
      snifferEntry('/app/apps/sniffer/dist/main.js', () => false),
      '/app/apps/sniffer/dist/main.js',
    );
  });

  test('from sources it forks the sources, whatever dist/ holds', () => {
    assert.equal(
      snifferEntry('/repo/apps/sniffer/src/main.ts', () => true),
      '/repo/apps/sniffer/src/main.ts',
    );
  });
});
