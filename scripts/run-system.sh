#!/usr/bin/env bash
# The run command of the README. Today it brings the local stack up and applies the schema; it grows
# into the whole system (apps, agent, lab traffic, report) as the apps land.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash stack/stack.sh up
cat <<'MSG'

The stack is up. Try:
  npx fleetcap status                      every server, healthy or not
  mariadb -h 127.0.0.1 -u fleetcap_admin -pfleetcap-admin-local fleetcap
  npx fleetcap down                        stop everything (data stays in .stack/)
MSG
