#!/usr/bin/env node
// The third step of `npm run build`: the sniffer as one ES module, apps/sniffer/dist/main.bundle.mjs (its own code,
// lib's and its npm packages), which the compiled listener forks (apps/sniffer/package.json maps
// `@fleetcap/sniffer/main` to it). Why: a sniffer start is mostly Node resolving and loading some 200 files; one file
// halves its CPU and saves ~8 MiB of RSS per sniffer (docs/ARCHITECTURE.md, The agent's footprint). The file sits
// three folders below the repository root, as lib/dist/config/secrets.js does, so that the `new URL('../../../',
// import.meta.url)` it carries still names the root.
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
await build({
  entryPoints: [`${root}apps/sniffer/src/main.ts`],
  outfile: `${root}apps/sniffer/dist/main.bundle.mjs`,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  conditions: ['fleetcap-source'],
  logLevel: 'warning',
  // pino and prom-client are CommonJS and call require().
  banner: {
    js: "import { createRequire as fleetcapRequire } from 'node:module'; const require = fleetcapRequire(import.meta.url);",
  },
});
console.log('bundle-sniffer: apps/sniffer/dist/main.bundle.mjs');
