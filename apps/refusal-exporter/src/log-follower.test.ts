import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { LogFollower } from './log-follower.ts';

const dir = mkdtempSync(join(tmpdir(), 'fleetcap-follower-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function follower(name: string, options: { maxLineBytes?: number } = {}) {
  const path = join(dir, name);
  const lines: string[] = [];
  const states: boolean[] = [];
  let truncated = 0;
  const f = new LogFollower(
    path,
    { line: (l) => lines.push(l), truncated: () => truncated++, state: (r) => states.push(r) },
    options,
  );
  return { path, f, lines, states, truncated: () => truncated };
}

test('starts at the end: only lines written after the first poll, each once it is complete', async () => {
  const t = follower('a.log');
  writeFileSync(t.path, 'history 1\nhistory 2\n');
  await t.f.poll();
  assert.deepEqual(t.lines, []);
  appendFileSync(t.path, 'one\ntw');
  await t.f.poll();
  assert.deepEqual(t.lines, ['one']);
  appendFileSync(t.path, 'o\r\nthree\n');
  await t.f.poll();
  assert.deepEqual(t.lines, ['one', 'two', 'three']);
  await t.f.close();
});

test('rotation: the rest of the old file, then the new one from its start; truncation: from 0', async () => {
  const t = follower('b.log');
  writeFileSync(t.path, '');
  await t.f.poll();
  appendFileSync(t.path, 'before rotation\n');
  renameSync(t.path, `${t.path}.1`);
  appendFileSync(`${t.path}.1`, 'late in the old file\n');
  writeFileSync(t.path, 'new file\n');
  await t.f.poll();
  assert.deepEqual(t.lines, ['before rotation', 'late in the old file', 'new file']);
  truncateSync(t.path, 0);
  appendFileSync(t.path, 'x\n');
  await t.f.poll();
  assert.deepEqual(t.lines.at(-1), 'x');
  await t.f.close();
});

test('a missing file is waited for (not readable), then read from its start; a long line is cut', async () => {
  const t = follower('c.log', { maxLineBytes: 8 });
  await t.f.poll();
  assert.deepEqual(t.states, [false]);
  writeFileSync(t.path, 'first\n0123456789abcdef\nend\n');
  await t.f.poll();
  assert.deepEqual(t.states, [false, true]);
  assert.deepEqual(t.lines, ['first', '01234567', 'end']);
  assert.equal(t.truncated(), 1);
  rmSync(t.path);
  await t.f.poll();
  assert.deepEqual(t.states, [false, true, false]);
  await t.f.close();
});
