#!/usr/bin/env bash
# The run command of the README: installs what is missing, then `fleetcap run`: the stack, every app,
# one host agent registered with SQL, traffic for it to capture, the verdicts, and the report.
#   bash scripts/run-system.sh [--keep] [--requests N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash stack/install.sh
exec node cli/bin/fleetcap.mjs run "$@"
