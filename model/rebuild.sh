#!/usr/bin/env bash
# The model from nothing, in one command: the traffic lab's labelled captures (lab/run-all.sh, root,
# ~16 min on 2 cores), the dataset export of those runs and of the real captures of ../shared/pcaps through
# the project's own reader, sessionizer and feature code, then training, evaluation and the ONNX export with
# its card (model/train.sh, into model/).
#   bash model/rebuild.sh [--runs-per-scenario N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash lab/run-all.sh "$@"
bash model/train.sh --export
