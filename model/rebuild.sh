#!/usr/bin/env bash
# The model from nothing, in one command: the traffic lab's labelled captures (root, ~45 min on 2 cores), the
# dataset export of those runs and of the real captures of ../shared/pcaps through the project's own reader,
# sessionizer and feature code, then training, evaluation and the ONNX export with its card (model/train.sh).
#   bash model/rebuild.sh
# The runs, as the shipped card was made:
# - the broadened lab (WAN links, a dozen services): seeds 1-10 of every scenario, and seeds 11-18 of bruteforce
#   and slowloris, the scenarios with the most variants (15 login targets, 3 slow modes x HTTP/HTTPS);
# - the lab before WAN links (commit 61a651e, near-zero RTT), seeds 1-8 of every scenario, kept as "v1-<run>"
#   (model/splits.py splits each lab generation on its own).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash lab/run-all.sh --runs-per-scenario 10
bash lab/run-all.sh --runs-per-scenario 8 --first-seed 11 --scenarios bruteforce,slowloris
if [[ ! -d .lab/v1-src ]]; then git worktree add --detach .lab/v1-src 61a651e; fi
bash lab/teardown.sh # the old lab builds its own topology (no WAN links)
(cd .lab/v1-src && bash lab/run-all.sh)
(cd .lab/v1-src && bash lab/teardown.sh)
for run in .lab/v1-src/.lab/runs/*/; do
  ln -sfn "$PWD/$run" ".lab/runs/v1-$(basename "$run")"
done
bash model/train.sh --export
