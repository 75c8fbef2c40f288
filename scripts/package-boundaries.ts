// The workspaces are boundaries: every module a file imports is declared by the package the file belongs to, a
// package reaches another only through its exports (`@fleetcap/<package>/<module>`, never its src/ or by relative
// path), and a dependency has one version range across the repository. scripts/package-boundaries.test.ts holds
// the repository to these rules;
//   node --import tsx --conditions=fleetcap-source scripts/package-boundaries.ts    lists what breaks them
//
// A file belongs to the nearest workspace package above it (lib, cli, apps/*); any other file (test/, bench/,
// scripts/, stack/) belongs to the root package, whose package.json declares the dev tooling they import.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

export const repoRoot = resolve(new URL('..', import.meta.url).pathname);

const SOURCE_EXTENSIONS = ['.ts', '.mts', '.mjs', '.js'];
/** Not sources: installed packages and the compiled build (dot folders, the local stack's and the lab's state, too). */
const SKIPPED_DIRS = new Set(['node_modules', 'dist']);
const DEPENDENCY_FIELDS = ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies'] as const;

export interface PackageJson {
  name: string;
  workspaces?: string[];
  exports?: Record<string, unknown>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

export interface Workspace {
  /** Relative to the repository; '' for the root package. */
  dir: string;
  manifest: PackageJson;
}

export interface Violation {
  file: string;
  specifier: string;
  problem: string;
}

function readManifest(dir: string): PackageJson {
  return JSON.parse(readFileSync(join(repoRoot, dir, 'package.json'), 'utf8')) as PackageJson;
}

/** The root package and every workspace package its `workspaces` globs name (`dir` or `dir/*`). */
export function workspaces(): Workspace[] {
  const root = readManifest('');
  const dirs: string[] = [];
  for (const pattern of root.workspaces ?? []) {
    if (pattern.endsWith('/*')) {
      const parent = pattern.slice(0, -2);
      for (const name of readdirSync(join(repoRoot, parent)).sort()) {
        if (existsSync(join(repoRoot, parent, name, 'package.json'))) dirs.push(`${parent}/${name}`);
      }
    } else dirs.push(pattern);
  }
  return [{ dir: '', manifest: root }, ...dirs.map((dir) => ({ dir, manifest: readManifest(dir) }))];
}

/** The package a file or folder (relative to the repository) belongs to: the deepest workspace folder holding it. */
export function owner(all: Workspace[], path: string): Workspace {
  let best = all[0]!;
  for (const w of all) {
    if (w.dir !== '' && (path === w.dir || path.startsWith(`${w.dir}/`)) && w.dir.length > best.dir.length) best = w;
  }
  return best;
}

/** Every source file of the repository, relative to it. */
export function sourceFiles(dir = repoRoot, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.') || SKIPPED_DIRS.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (SOURCE_EXTENSIONS.some((e) => name.endsWith(e)) && !name.endsWith('.d.ts'))
      out.push(relative(repoRoot, path).split(sep).join('/'));
  }
  return out;
}

/**
 * What a file imports: static and dynamic imports and re-exports (read with the TypeScript parser, so strings in
 * comments do not count), import.meta.resolve, and paths to another package's files built with
 * `new URL('<relative>', import.meta.url)`.
 */
export function importsOf(text: string): { specifiers: string[]; urls: string[] } {
  const info = ts.preProcessFile(text, true, true);
  const specifiers = info.importedFiles.map((f) => f.fileName);
  for (const m of text.matchAll(/import\.meta\.resolve\(\s*['"`]([^'"`]+)['"`]/g)) specifiers.push(m[1]!);
  const urls = [...text.matchAll(/new URL\(\s*['"`](\.\.?\/[^'"`]*)['"`]\s*,\s*import\.meta\.url/g)].map((m) => m[1]!);
  return { specifiers, urls };
}

const builtins = new Set(builtinModules);

function isBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || builtins.has(specifier.split('/')[0]!);
}

/** 'a/b' -> 'a', '@s/a/b' -> '@s/a' */
export function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** '@s/a' -> '@types/s__a', 'a' -> '@types/a' */
function typesPackageOf(name: string): string {
  return `@types/${name.startsWith('@') ? name.slice(1).replace('/', '__') : name}`;
}

function declared(manifest: PackageJson): Map<string, { field: string; range: string }> {
  const out = new Map<string, { field: string; range: string }>();
  for (const field of DEPENDENCY_FIELDS) {
    for (const [name, range] of Object.entries(manifest[field] ?? {})) out.set(name, { field, range });
  }
  return out;
}

/** True when the installed package brings its own type declarations (else its @types package must be declared). */
function shipsTypes(name: string): boolean {
  const dir = join(repoRoot, 'node_modules', name);
  if (!existsSync(join(dir, 'package.json'))) return true; // not installed: the type check reports it
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  if (manifest.types || manifest.typings || existsSync(join(dir, 'index.d.ts'))) return true;
  return JSON.stringify(manifest.exports ?? {}).includes('"types"');
}

/** `read` gives a file's text (the repository's file by default). */
export function checkImports(
  files: string[] = sourceFiles(),
  read: (file: string) => string = (file) => readFileSync(join(repoRoot, file), 'utf8'),
): Violation[] {
  const all = workspaces();
  const byName = new Map(all.map((w) => [w.manifest.name, w]));
  const violations: Violation[] = [];
  for (const file of files) {
    const own = owner(all, file);
    const deps = declared(own.manifest);
    const { specifiers, urls } = importsOf(read(file));
    const add = (specifier: string, problem: string) => violations.push({ file, specifier, problem });
    for (const specifier of specifiers) {
      if (specifier.startsWith('.') || specifier.startsWith('/')) {
        const target = relative(repoRoot, resolve(repoRoot, dirname(file), specifier))
          .split(sep)
          .join('/');
        const other = owner(all, target);
        if (other !== own) {
          add(
            specifier,
            `reaches into ${other.manifest.name} (${target}) by relative path: import it as ${other.manifest.name}/<module>, declared in ${own.dir || 'the root'}/package.json`,
          );
        }
        continue;
      }
      if (isBuiltin(specifier)) continue;
      const name = packageName(specifier);
      const subpath = specifier.slice(name.length + 1);
      const workspace = byName.get(name);
      if (workspace === own) {
        add(specifier, `imports its own package by name: use a relative ./<file>.ts import`);
        continue;
      }
      if (workspace !== undefined && (/(^|\/)src(\/|$)/.test(subpath) || subpath.endsWith('.ts'))) {
        add(specifier, `deep import of ${name}'s sources: import ${name}/<folder>/<module> (its exports)`);
      }
      if (!deps.has(name)) {
        add(specifier, `${name} is not declared in ${own.dir || 'the root'}/package.json`);
        continue;
      }
      if (workspace === undefined && !shipsTypes(name) && !deps.has(typesPackageOf(name))) {
        add(specifier, `${name} has no types of its own: declare ${typesPackageOf(name)} (a devDependency)`);
      }
    }
    for (const url of urls) {
      const target = relative(repoRoot, resolve(repoRoot, dirname(file), url))
        .split(sep)
        .join('/');
      const other = owner(all, target);
      if (other !== own && other.dir !== '') {
        add(url, `builds a path into ${other.manifest.name} (${target}): resolve it with import.meta.resolve`);
      }
    }
  }
  return violations;
}

export interface VersionConflict {
  name: string;
  ranges: string[];
}

/** Dependencies declared with more than one version range across the repository's package.json files. */
export function versionConflicts(all: Workspace[] = workspaces()): VersionConflict[] {
  const ranges = new Map<string, Set<string>>();
  for (const w of all) {
    for (const [name, { range }] of declared(w.manifest)) {
      if (!ranges.has(name)) ranges.set(name, new Set());
      ranges.get(name)!.add(range);
    }
  }
  return [...ranges]
    .filter(([, r]) => r.size > 1)
    .map(([name, r]) => ({ name, ranges: [...r].sort() }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** `@types/*` declared as runtime dependencies (the compiled build never loads them). */
export function runtimeTypes(all: Workspace[] = workspaces()): string[] {
  return all.flatMap((w) =>
    Object.keys(w.manifest.dependencies ?? {})
      .filter((n) => n.startsWith('@types/'))
      .map((n) => `${w.dir || '(root)'}: ${n}`),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const v of checkImports()) console.log(`${v.file}: '${v.specifier}': ${v.problem}`);
  for (const c of versionConflicts()) console.log(`${c.name}: ${c.ranges.join(' vs ')}`);
  for (const t of runtimeTypes()) console.log(`${t} is a dependency: make it a devDependency`);
}
