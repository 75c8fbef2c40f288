#!/usr/bin/env node
// The second half of `npm run build`: tsc compiles each package's src/*.ts to dist/*.js; every other file under src/
// (Lua scripts, JSON fixtures, ...) is read by the code beside it at run time, so it is copied to the same place
// under dist/. Whatever is there: a new kind of file needs no change here.
import { cpSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

/** The workspace folders of the root package.json (`dir` or `dir/*`). */
function packageDirs() {
  const { workspaces = [] } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  return workspaces.flatMap((pattern) =>
    pattern.endsWith('/*')
      ? readdirSync(join(root, pattern.slice(0, -2)))
          .map((name) => join(pattern.slice(0, -2), name))
          .filter((dir) => statSync(join(root, dir)).isDirectory())
      : [pattern],
  );
}

function assets(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) assets(path, out);
    else if (!name.endsWith('.ts')) out.push(path);
  }
  return out;
}

let copied = 0;
for (const dir of packageDirs()) {
  const src = join(root, dir, 'src');
  let files;
  try {
    files = assets(src);
  } catch {
    continue; // a package without sources
  }
  for (const file of files) {
    cpSync(file, join(root, dir, 'dist', relative(src, file)), { preserveTimestamps: true });
    copied++;
  }
}
console.log(`copy-assets: ${copied} files copied from src/ to dist/`);
