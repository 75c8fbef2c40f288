#!/usr/bin/env node
// Runs the TypeScript CLI from its sources through tsx, so the repo needs no build step; the compiled CLI is
// cli/dist/main.js (npm run build). The fleetcap-source condition makes every @fleetcap/* import resolve to its
// sources as well; a flag can no longer be given to this process, so a resolve hook adds the condition.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
register(
  'data:text/javascript,export function resolve(specifier, context, next) { return next(specifier, { ...context, conditions: [...context.conditions, "fleetcap-source"] }); }',
);
await import('../src/main.ts');
