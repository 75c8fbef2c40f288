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

# The alerts as served (the model's and the detection-backed ones, `fleetcap classify`) on the same held-out runs
# and files, into the card beside the model-alone numbers (model/system_eval.py). Needs the lab runs and the captures
# the dataset came from; without them the card keeps the model-alone numbers only.
if [[ " $* " == *" --out "* ]]; then
  echo "train.sh: --out given: the served-alerts evaluation is left to model/system_eval.py --card <out>/model-card.json" >&2
elif [[ -d .lab/runs ]]; then
  captures=()
  for dir in ${FLEETCAP_CAPTURES:-../shared/pcaps/zeek ../shared/pcaps/tcpdump-tests}; do
    [[ -d $dir ]] && captures+=(--captures "$dir")
  done
  "$VENV/bin/python" model/system_eval.py --data "$DATA" --runs .lab/runs "${captures[@]}" \
    --model model/model.onnx --card model/model-card.json --update-card >/dev/null
else
  echo "train.sh: WARNING: no .lab/runs: the card has no served-alerts evaluation" >&2
fi
