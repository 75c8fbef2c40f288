// The workspaces stay boundaries (scripts/package-boundaries.ts): what a file imports is declared by its package,
// packages meet through their exports only, and each dependency has one version range.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  checkImports,
  importsOf,
  owner,
  repoRoot,
  runtimeTypes,
  sourceFiles,
  versionConflicts,
  workspaces,
} from './package-boundaries.ts';

describe('package boundaries', () => {
  test('every import is declared by the importing package, and no file reaches into another package', () => {
    const files = sourceFiles();
    assert.ok(files.length > 100, `the sources are found (${files.length})`);
    const violations = checkImports(files).map((v) => `${v.file}: '${v.specifier}': ${v.problem}`);
    assert.deepEqual(violations, []);
  });

  test('one version range per dependency across every package.json', () => {
    assert.deepEqual(versionConflicts(), []);
  });

  test('@types/* are devDependencies, and the root package.json holds dev tooling only', () => {
    assert.deepEqual(runtimeTypes(), []);
    const root = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(root.dependencies, undefined, 'the root package declares devDependencies only');
  });

  test('every package exposes its modules through exports: sources under fleetcap-source, dist/ by default', () => {
    for (const w of workspaces().slice(1)) {
      assert.deepEqual(
        w.manifest.exports,
        { './*': { types: './src/*.ts', 'fleetcap-source': './src/*.ts', default: './dist/*.js' } },
        `${w.dir}/package.json exports`,
      );
    }
  });
});

describe('the boundary check itself', () => {
  const all = workspaces();

  test('a file belongs to the nearest package above it; test/, bench/, stack/ to the root', () => {
    assert.equal(owner(all, 'apps/listener/src/main.ts').manifest.name, '@fleetcap/listener');
    assert.equal(owner(all, 'lib/src/pcap/reader.ts').manifest.name, '@fleetcap/lib');
    assert.equal(owner(all, 'test/helpers/stack.ts').dir, '');
    assert.equal(owner(all, 'stack/probe.ts').dir, '');
  });

  test('reads static, dynamic and type imports, re-exports, import.meta.resolve and new URL paths; not comments', () => {
    const { specifiers, urls } = importsOf(`
      // import { x } from 'in-a-comment';
      import a from 'alpha';
      import type { B } from '@scope/beta/deep';
      export { c } from './c.ts';
      const d = await import('delta');
      const e = import.meta.resolve('@fleetcap/sniffer/main');
      const f = new URL('../../sniffer/src/main.ts', import.meta.url);
    `);
    assert.deepEqual(specifiers.sort(), ['./c.ts', '@fleetcap/sniffer/main', '@scope/beta/deep', 'alpha', 'delta']);
    assert.deepEqual(urls, ['../../sniffer/src/main.ts']);
  });

  test('flags an undeclared module, a src/ deep import and a relative path into another package', () => {
    // The check reads files from the repository: a listener module that imports what the listener does not declare.
    const probe = 'apps/listener/src/zz-boundary-probe.ts';
    const text = [
      "import express from 'express';",
      "import { Classifier } from '@fleetcap/forecast/src/model.ts';",
      "import { emptyCounters } from '../../sniffer/src/ipc.ts';",
      "const sniffer = new URL('../../sniffer/src/main.ts', import.meta.url);",
    ].join('\n');
    const found = checkWith(probe, text).map((v) => `${v.specifier}: ${v.problem}`);
    assert.deepEqual(found, [
      'express: express is not declared in apps/listener/package.json',
      "@fleetcap/forecast/src/model.ts: deep import of @fleetcap/forecast's sources: import @fleetcap/forecast/<folder>/<module> (its exports)",
      '@fleetcap/forecast/src/model.ts: @fleetcap/forecast is not declared in apps/listener/package.json',
      '../../sniffer/src/ipc.ts: reaches into @fleetcap/sniffer (apps/sniffer/src/ipc.ts) by relative path: import it as @fleetcap/sniffer/<module>, declared in apps/listener/package.json',
      '../../sniffer/src/main.ts: builds a path into @fleetcap/sniffer (apps/sniffer/src/main.ts): resolve it with import.meta.resolve',
    ]);
  });

  test('flags a root file (a test) that imports a package by relative path', () => {
    const found = checkWith('test/integration/zz-probe.test.ts', "import { x } from '../../lib/src/pcap/reader.ts';");
    assert.equal(found.length, 1);
    assert.match(found[0]!.problem, /reaches into @fleetcap\/lib \(lib\/src\/pcap\/reader\.ts\) by relative path/);
  });

  test('sees two ranges of one dependency', () => {
    const fake = [
      { dir: 'a', manifest: { name: 'a', dependencies: { mysql2: '^3.14.0' } } },
      { dir: 'b', manifest: { name: 'b', devDependencies: { mysql2: '^3.24.6' } } },
    ];
    assert.deepEqual(versionConflicts(fake), [{ name: 'mysql2', ranges: ['^3.14.0', '^3.24.6'] }]);
  });
});

/** checkImports on one file that is not in the repository: its text given here, its path deciding its package. */
function checkWith(path: string, text: string) {
  return checkImports([path], () => text);
}
