#!/usr/bin/env bash
# The test command of the README: installs what is missing, then the fast lane: typecheck, lint and the unit tests
# run side by side, before any server starts; the first of them to fail stops the others and the command, with its
# output. Only then does the local stack come up (real servers on loopback) for the integration tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash stack/install.sh

# Each lane runs in a session of its own (setsid), so that stopping a lane stops everything it started.
lanes_dir="$(mktemp -d)"
declare -A lane_of=()
stop_lanes() {
  local pid
  for pid in "${!lane_of[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
}
trap 'stop_lanes; rm -rf "$lanes_dir"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_lane() {
  local name=$1
  shift
  setsid -w "$@" >"$lanes_dir/$name.log" 2>&1 &
  lane_of[$!]=$name
}

fast_start=$SECONDS
start_lane typecheck npm run --silent typecheck
start_lane lint npx biome check .
start_lane unit node scripts/run-tests.mjs unit
while ((${#lane_of[@]} > 0)); do
  status=0
  wait -n -p finished "${!lane_of[@]}" || status=$?
  name=${lane_of[$finished]}
  unset "lane_of[$finished]"
  cat "$lanes_dir/$name.log"
  if ((status != 0)); then
    echo "== $name FAILED (exit $status, after $((SECONDS - fast_start)) s); the other lanes were stopped"
    exit "$status"
  fi
  echo "== $name passed ($((SECONDS - fast_start)) s)"
done

echo "== integration tests"
bash stack/stack.sh up
node scripts/run-tests.mjs integration
