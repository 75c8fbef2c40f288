#!/usr/bin/env bash
# Removes everything the lab made at run time: processes inside the fcl-* namespaces, the
# namespaces themselves (which takes their veths and the bridge with them) and the per-namespace
# resolv.conf. Captures in .lab/runs are kept. --purge also removes .lab/ and the lab user.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

purge=0
for arg in "$@"; do
  case $arg in
  --purge) purge=1 ;;
  --keep-assets) ;;
  *) die "unknown option $arg (use --purge)" ;;
  esac
done

need_root

kill_ns_procs() {
  local ns=$1 pids sig
  # Only processes living in our own namespaces: all of them were started by the lab.
  for sig in TERM KILL; do
    mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null || true)
    ((${#pids[@]} == 0)) && return 0
    kill -s "$sig" "${pids[@]}" 2>/dev/null || true
    local i
    for i in $(seq 1 20); do
      [[ -z $(ip netns pids "$ns" 2>/dev/null) ]] && return 0
      sleep 0.1
    done
  done
}

t0=$EPOCHREALTIME
# The sensor port (lab/sensor-port.sh) has its one end in the root namespace; deleting the switch's
# namespace would take it along, this says so.
ip link del "${FCL_SENSOR_IF:-fcl-mon0}" 2>/dev/null || true
for ns in "${LAB_NAMESPACES[@]}"; do
  if ns_exists "$ns"; then
    kill_ns_procs "$ns"
    ip netns del "$ns"
    log "removed namespace $ns"
  fi
  rm -rf "/etc/netns/$ns"
done
rmdir /etc/netns 2>/dev/null || true # only if no one else keeps files there
# The vulnapp python and sshd children die with their namespace's processes above; pid files
# would only mislead the next setup.
rm -f "$RUNSTATE"/*.pid "$RUNSTATE"/*/*.pid 2>/dev/null || true

left=$(ip -o link show | grep -E 'v-(client|server|attacker|sensor)|fclbr|fcl-mon' || true)
[[ -z $left ]] || die "lab links left in the root namespace: $left"

if ((purge)); then
  rm -rf "$OUT_DIR"
  if id "$LAB_USER" >/dev/null 2>&1; then userdel -r "$LAB_USER" 2>/dev/null || true; fi
  log "purged $OUT_DIR and user $LAB_USER"
fi
log "teardown done ($(secs_since "$t0")s)"
