#!/usr/bin/env bash
# The test command of the README: installs what is missing, brings the local stack up (real servers
# on loopback), then type-checks, lints and runs every unit and integration test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash stack/stack.sh up
echo "== typecheck"; npm run typecheck
echo "== lint"; npx biome check .
echo "== tests"; node scripts/run-tests.mjs all
