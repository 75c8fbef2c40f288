#!/usr/bin/env bash
# Rebuilds every lab capture from nothing:
#   bash lab/run-all.sh [--runs-per-scenario N] [--short] [--first-seed S] [--scenarios a,b,...] [--keep-up]
# Seeds are S..S+N-1 for every scenario (--short: one run each, about 4 minutes); rounds interleave the
# scenarios so that a run cut short still leaves every class represented. Ends with a session count per
# class and a teardown.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=8
FIRST_SEED=1
SCENARIOS=(benign portscan synflood bruteforce slowloris sqli)
KEEP_UP=0
while (($#)); do
  case $1 in
  --runs-per-scenario) RUNS=$2; shift 2 ;;
  --short) RUNS=1; shift ;;
  --first-seed) FIRST_SEED=$2; shift 2 ;;
  --scenarios) IFS=, read -r -a SCENARIOS <<<"$2"; shift 2 ;;
  --keep-up) KEEP_UP=1; shift ;;
  -h | --help) sed -n '2,6p' "$0"; exit 0 ;;
  *) die "unknown option $1" ;;
  esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs-per-scenario wants a positive number"
[[ $FIRST_SEED =~ ^[0-9]+$ ]] || die "--first-seed wants a number"
need_root

T0=$EPOCHREALTIME
total=$((RUNS * ${#SCENARIOS[@]}))
log "run-all: ${#SCENARIOS[@]} scenarios x $RUNS runs = $total runs, seeds $FIRST_SEED..$((FIRST_SEED + RUNS - 1))"

step "teardown (clean start)" bash "$LAB_DIR/teardown.sh"
rm -rf "$RUNS_DIR"
step "setup" bash "$LAB_DIR/setup.sh"

if ((!KEEP_UP)); then
  trap 'bash "$LAB_DIR/teardown.sh" || true' EXIT
fi

done_runs=0
failed=()
for ((r = 0; r < RUNS; r++)); do
  seed=$((FIRST_SEED + r))
  for sc in "${SCENARIOS[@]}"; do
    done_runs=$((done_runs + 1))
    log "[$done_runs/$total] $sc seed $seed"
    if ! step "$sc-$seed" bash "$LAB_DIR/run.sh" "$sc" "$seed"; then
      log "run $sc-$seed failed; trying it once more"
      if ! step "$sc-$seed (retry)" bash "$LAB_DIR/run.sh" "$sc" "$seed"; then
        failed+=("$sc-$seed")
        rm -rf "${RUNS_DIR:?}/$sc-$seed"
        log "run $sc-$seed failed again; left out"
      fi
    fi
  done
done

step "summarize" python3 "$LAB_DIR/summarize.py" "$RUNS_DIR" --json "$RUNS_DIR/summary.json" |
  tee "$RUNS_DIR/summary.txt"
log "run-all finished in $(secs_since "$T0")s; captures in $RUNS_DIR"
if ((${#failed[@]})); then
  log "failed runs: ${failed[*]}"
  exit 1
fi
