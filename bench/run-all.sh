#!/usr/bin/env bash
# Every benchmark with its peers, in one run, then bench/RESULTS.md (bench/run-all.ts says how):
#   bash bench/run-all.sh [--short] [--only name,name] [--skip name,name] [--out FILE]
# Needs the local stack up (bash stack/stack.sh up; FLEETCAP_STACK_HOME for another stack) and root for the
# capture benches. Runs under nice -n 10: the benches are CPU-heavy and the figures are same-run ratios anyway.
set -euo pipefail
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_DIR"
if ! node --import tsx --conditions=fleetcap-source stack/probe.ts check-all --quiet >/dev/null 2>&1; then
  echo "bench/run-all: the local stack is not healthy: run 'bash stack/stack.sh up' (or 'bash stack/stack.sh status' for why)" >&2
  exit 2
fi
exec nice -n 10 node --import tsx --conditions=fleetcap-source bench/run-all.ts "$@"
