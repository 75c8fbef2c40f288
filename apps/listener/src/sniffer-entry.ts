// Which file the listener forks as its sniffer. From sources: the sniffer's sources (through tsx). Compiled: the
// one-file bundle `npm run build` makes beside dist/main.js (scripts/bundle-sniffer.mjs), which starts in half the CPU
// and some 8 MiB less RSS than dist/main.js and its ~200 files (docs/ARCHITECTURE.md, The agent's footprint); a
// build without it (tsc -b alone) still runs, on dist/main.js.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const SNIFFER_BUNDLE = 'main.bundle.mjs';

/** `resolved`: where `@fleetcap/sniffer/main` resolves for this listener (sources or dist/main.js). */
export function snifferEntry(resolved: string, exists: (path: string) => boolean = existsSync): string {
  if (!resolved.endsWith('.js')) return resolved;
  const bundle = join(dirname(resolved), SNIFFER_BUNDLE);
  return exists(bundle) ? bundle : resolved;
}
