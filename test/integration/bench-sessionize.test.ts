// bench/sessionize in its short mode: it builds its capture from the shared captures, runs fleetcap, ndpiReader and
// tshark on it and writes its table with a ratio for every peer. Times are not checked (benchmarks show performance;
// a timed test would only measure the machine's load).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const pcaps = process.env.FLEETCAP_SHARED_PCAPS ?? join(repoRoot, '..', 'shared', 'pcaps');
const missingTool = ['ndpiReader', 'tshark'].find((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);

test('bench/sessionize --short writes its table: every tool timed on every input, the ratios to the peers', {
  skip: !existsSync(pcaps)
    ? `no shared captures at ${pcaps} (set FLEETCAP_SHARED_PCAPS)`
    : missingTool
      ? `${missingTool} is not installed (bash stack/install.sh installs it)`
      : false,
}, () => {
  const out = mkdtempSync(join(tmpdir(), 'fleetcap-bench-sessionize-test-'));
  try {
    const run = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--conditions=fleetcap-source',
        join(repoRoot, 'bench/sessionize/run.ts'),
        '--short',
        '--pcaps',
        pcaps,
        '--out',
        out,
      ],
      { cwd: repoRoot, encoding: 'utf8', timeout: 540_000 },
    );
    assert.equal(run.status, 0, `the bench failed:\n${run.stdout}\n${run.stderr}`);
    const table = readFileSync(join(out, 'RESULTS.md'), 'utf8');
    assert.match(
      table,
      /\| input \| packets \| sessions \| fleetcap \| fleetcap --no-metadata \| ndpiReader \| tshark \|/,
    );
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      results: Array<{
        input: string;
        packets: number;
        sessions: number;
        tools: Record<string, { wall: number; cpu: number }>;
        ratios: { ndpiReader: { wall: number }; tshark: { wall: number } };
      }>;
    };
    assert.equal(results.results.length, 2, 'the large capture and the Slips corpus');
    const large = results.results[0]!;
    assert.equal(large.packets, 200_000);
    assert.ok(large.sessions > 100, `the large capture makes sessions (${large.sessions})`);
    for (const r of results.results) {
      for (const tool of ['fleetcap', 'fleetcap --no-metadata', 'ndpiReader', 'tshark']) {
        assert.ok(r.tools[tool]!.wall > 0, `${tool} timed on ${r.input}`);
      }
      assert.ok(Number.isFinite(r.ratios.ndpiReader.wall) && r.ratios.ndpiReader.wall > 0);
      assert.ok(Number.isFinite(r.ratios.tshark.wall) && r.ratios.tshark.wall > 0);
      assert.ok(table.includes(`| ${r.input} | ${r.packets} | ${r.sessions} |`), `a row for ${r.input}`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
