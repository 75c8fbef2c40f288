#!/usr/bin/env bash
# Trains the session classifier: bash model/train.sh [--export] [train.py options...]
# Creates the Python venv model/.venv from model/requirements.txt when it is missing (or out of date), runs the
# dataset export when model/data/dataset.csv is missing (or with --export), then model/train.py, which writes
# model/model.onnx, model/model-card.json and model/MODEL_CARD.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=model/.venv
DATA=model/data/dataset.csv
STAMP=$VENV/.requirements.sha256
want=$(sha256sum model/requirements.txt | cut -d' ' -f1)
if [[ ! -x $VENV/bin/python || ! -f $STAMP || $(cat "$STAMP") != "$want" ]]; then
  echo "train.sh: creating $VENV from model/requirements.txt" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet -r model/requirements.txt
  echo "$want" >"$STAMP"
fi

export_data=0
if [[ ${1:-} == --export ]]; then
  export_data=1
  shift
fi
if ((export_data)) || [[ ! -f $DATA ]]; then
  npx fleetcap dataset export --runs .lab/runs --out "$DATA"
fi

"$VENV/bin/python" model/train.py --data "$DATA" --out model "$@"
