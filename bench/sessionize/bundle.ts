// A fleetcap checkout's CLI as one compiled file, for comparing two checkouts built the same way: the code of before
// issue 17 has no build of its own (its packages export their TypeScript sources), so the bench compiles both it and
// this checkout with esbuild into one ES module each (the checkout's own @fleetcap/* packages bundled, npm packages
// left as imports of their absolute paths in that checkout's node_modules, so the bundle runs from anywhere and never
// writes into the checkout). Start-up then pays for no TypeScript loader and no per-file module resolution, alike for
// both.
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';

/** Bundles `<checkout>/cli/src/main.ts` into `outDir` (main.mjs and its chunks); returns main.mjs's path. */
export async function bundleCli(checkout: string, outDir: string): Promise<string> {
  const npmPackagesByPath: Plugin = {
    name: 'npm-packages-by-path',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.path.startsWith('@fleetcap/') || args.path.startsWith('node:')) return undefined;
        if (args.pluginData === 'resolving') return undefined;
        const resolved = await b.resolve(args.path, {
          kind: args.kind,
          resolveDir: args.resolveDir,
          pluginData: 'resolving',
        });
        if (resolved.errors.length > 0) return { errors: resolved.errors };
        return { path: resolved.path, external: true };
      });
    },
  };
  await build({
    entryPoints: [join(checkout, 'cli/src/main.ts')],
    outdir: outDir,
    // Chunks per dynamic import: a CLI that loads its commands lazily stays lazy.
    splitting: true,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['fleetcap-source'],
    absWorkingDir: outDir,
    plugins: [npmPackagesByPath],
    logLevel: 'warning',
  });
  return join(outDir, 'main.mjs');
}
