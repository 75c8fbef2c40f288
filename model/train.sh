#!/usr/bin/env bash
# Trains, evaluates and writes the session classifier: bash model/train.sh [--export] [train.py options...]
# Creates the Python venv model/.venv from model/requirements.txt when it is missing (or out of date), runs the
# dataset export when model/data/dataset.csv is missing (or with --export): the lab runs of .lab/runs and the real
# captures of ../shared/pcaps/{zeek,tcpdump-tests} (FLEETCAP_CAPTURES: other folders, space-separated), labelled by
# model/capture-labels.json, with cut-short copies of every session; then model/train.py, which writes
# model.onnx, model-card.json, MODEL_CARD.md and EVALUATION.md into model/ (or --out DIR).
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
  captures=()
  for dir in ${FLEETCAP_CAPTURES:-../shared/pcaps/zeek ../shared/pcaps/tcpdump-tests}; do
    if [[ -d $dir ]]; then
      captures+=(--captures "$dir")
    else
      echo "train.sh: WARNING: no captures folder $dir: the model is trained and evaluated without it" >&2
    fi
  done
  npx fleetcap dataset export --runs .lab/runs "${captures[@]}" --capture-labels model/capture-labels.json \
    --cuts 4,8,16 --out "$DATA"
fi

"$VENV/bin/python" model/train.py --data "$DATA" --out model --baseline model/model.onnx \
  --command "bash model/train.sh${*:+ $*}" "$@"
