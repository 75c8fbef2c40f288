#!/usr/bin/env python3
"""The alerts an analyst gets, scored on the held-out data: `fleetcap classify --json` (the model's alert policy and
the detection-backed alerts of lib/src/detectors, exactly as served) over every test-split lab run and real capture.

    model/.venv/bin/python model/system_eval.py --data model/data/dataset.csv --runs .lab/runs \
        --captures ../shared/pcaps/zeek --captures ../shared/pcaps/tcpdump-tests --model model/model.onnx \
        --card model/model-card.json --out model/system-evaluation.json

model/train.py scores the model alone on the exported rows; this scores the product: a session counts as the class
it is alerted as (`alertLabel`: the detection's class when a detection backs it, else the model's label), anything
not alerted counts as benign. Splits are model/splits.py's (the same test runs and files as the card). Lab sessions
are labelled by their run's labels.json rules (the rules `fleetcap dataset export` applies); real sessions are benign
unless model/capture-labels.json lists their file. Each capture is classified alone (its own detections), as the
card's conformance test does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evaluation  # noqa: E402
import train  # noqa: E402
from splits import LAB, assign_splits  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab"))
from label_rules import rule_class  # noqa: E402

BENIGN = "benign"
EXCLUDE = "exclude"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def classify(files: list[str], model: str, card: str) -> list[dict]:
    """Every session line of `fleetcap classify --json` for these files (one process, each file on its own)."""
    cmd = ["node", "--import", "tsx", "--conditions=fleetcap-source", "cli/src/main.ts", "classify", "--json",
           "--model", model, "--card", card, "--files-from", "-"]
    out = subprocess.run(cmd, cwd=ROOT, input="\n".join(files) + "\n", capture_output=True, text=True, check=False)
    rows = []
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            o = json.loads(line)
            if o.get("type") == "session":
                rows.append(o)
            elif o.get("type") == "summary" and o.get("error"):
                raise SystemExit(f"system_eval: {o['file']}: {o['error']}")
    return rows


def update_card(card_path: str, result: dict) -> None:
    """The served numbers into the card, beside the model-alone ones, and both Markdown files re-rendered."""
    import report

    with open(card_path) as f:
        card = json.load(f)
    rb = result["realBenign"]
    ftp = result["realAttackFiles"].get(train.FTP_BRUTEFORCE)
    ftp_share = round(ftp["alertedAsClass"] / ftp["sessions"], 4) if ftp else None
    card["servedAlerts"] = {
        "command": result["command"],
        "labSessions": result["labSessions"],
        "labMacroF1System": result["labMacroF1System"],
        "labMacroF1ModelAlertsOnly": result["labMacroF1ModelAlertsOnly"],
        "labRunLabels": result["labRunLabels"],
        "labPerClass": result["labPerClassSystem"],
        "labConfusion": result["labConfusionSystem"],
        "labPerRun": result["labPerRun"],
        "realBenign": rb,
        "realAttackFiles": result["realAttackFiles"],
    }
    card["servedBars"] = {
        "command": result["command"],
        "realBenignAlertRate": {"bar": f"<= {train.BARS['realBenignAlertRate']}", "value": rb["rate"], "ci95": rb["ci95"],
                                "met": rb["rate"] is not None and rb["rate"] <= train.BARS["realBenignAlertRate"]},
        "labMacroF1WithAlerts": {"bar": f">= {train.BARS['labMacroF1WithAlerts']}", "value": result["labMacroF1System"],
                                 "met": result["labMacroF1System"] >= train.BARS["labMacroF1WithAlerts"]},
        "ftpBruteforceAlertedAsBruteforce": {"bar": "most sessions alerted as bruteforce", "value": ftp_share,
                                             "met": ftp_share is not None and ftp_share >= train.BARS["ftpBruteforceAlertedAsBruteforce"]},
    }
    card["meetsServedBars"] = all(b["met"] for k, b in card["servedBars"].items() if k != "command")
    with open(card_path, "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    out = os.path.dirname(card_path)
    report.write_card_md(card, os.path.join(out, "MODEL_CARD.md"))
    report.write_evaluation_md(card, os.path.join(out, "EVALUATION.md"))


def command_args(argv: list[str]) -> list[str]:
    """The arguments that decide the numbers (--out only writes a copy of them)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--out":
            skip = True
        elif not a.startswith("--out="):
            out.append(a)
    return out


def counted(o: dict) -> str:
    return (o.get("alertLabel") or o["label"]) if o["alert"] else BENIGN


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="model/data/dataset.csv")
    ap.add_argument("--runs", default=".lab/runs")
    ap.add_argument("--captures", action="append", default=[])
    ap.add_argument("--capture-labels", default="model/capture-labels.json")
    ap.add_argument("--model", default="model/model.onnx")
    ap.add_argument("--card", default="model/model-card.json")
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--update-card",
        action="store_true",
        help="write the result into the card (servedAlerts, servedBars) and re-render MODEL_CARD.md and EVALUATION.md beside it",
    )
    args = ap.parse_args()

    cols = ["run_id", "scenario", "label", "framing", "source", "max_packets", "http_requests", "login_attempts"]
    rows = pd.read_csv(args.data, usecols=cols, dtype={c: str for c in cols[:5]}, keep_default_na=False)
    exported = rows.label.copy()
    # The card's class definitions (model/train.py): sessions the training leaves out are left out here too.
    rows, _ = train.without_guessless_http(rows)
    full = ((rows.framing == train.ORIGINAL) & (rows.max_packets == rows.max_packets.max())).to_numpy()
    groups = rows[["run_id", "scenario", "source"]].drop_duplicates("run_id").reset_index(drop=True)
    with open(os.path.join(ROOT, args.capture_labels)) as f:
        capture_labels = json.load(f)["files"]
    attack_groups = frozenset(k for k, v in capture_labels.items() if v.get("class") not in (BENIGN, EXCLUDE))
    split = dict(zip(groups.run_id, assign_splits(groups, test_only_groups=attack_groups)))
    with open(os.path.join(ROOT, args.card)) as f:
        card = json.load(f)
    classes = list(card["classes"])

    lab_runs = sorted(r for r, s in zip(groups.run_id, groups.source) if s == LAB and split[r] == "test")
    y_true, y_alert, y_model, run_of = [], [], [], []
    raw_true, raw_alert = [], []  # every session with its run's own label (no class definitions applied)
    files = [os.path.join(args.runs, r, "capture.pcap") for r in lab_runs]
    sessions = classify(files, args.model, args.card)
    by_file: dict[str, list[dict]] = {}
    for o in sessions:
        by_file.setdefault(o["file"], []).append(o)
    for r, path in zip(lab_runs, files):
        with open(os.path.join(ROOT, args.runs, r, "labels.json")) as f:
            rules = json.load(f)["rules"]
        # The export's sessions are classify's in the same order, less those its rules exclude; the rule class of
        # each must be the exported label, or the two are not the same sessions.
        kept = []
        for o in by_file.get(path, []):
            c = rule_class(rules, o["src"], o["dst"])
            if c is not None and c != EXCLUDE and o["proto"] in ("tcp", "udp"):
                kept.append((o, c))
        m = full & (rows.run_id == r).to_numpy()
        want, labels = exported[m].tolist(), rows.label[m].tolist()
        if len(kept) != len(want) or any(c != w for (_, c), w in zip(kept, want)):
            raise SystemExit(f"system_eval: {r}: classify's sessions are not the export's ({len(kept)} vs {len(want)})")
        for (o, c), label in zip(kept, labels):
            raw_true.append(classes.index(c))
            raw_alert.append(classes.index(counted(o)))
            if label == EXCLUDE:
                continue
            y_true.append(classes.index(label))
            y_alert.append(classes.index(counted(o)))
            y_model.append(classes.index(o["label"] if o["alert"] and o.get("alertReason") != "detection" else BENIGN))
            run_of.append(r)
    y_true, y_alert, y_model = map(np.array, (y_true, y_alert, y_model))
    system = evaluation.metrics(y_true, y_alert, classes)
    model_only = evaluation.metrics(y_true, y_model, classes)
    raw = evaluation.metrics(np.array(raw_true), np.array(raw_alert), classes)
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    np.add.at(confusion, (y_true, y_alert), 1)

    real = []
    for d in args.captures:
        source = os.path.basename(os.path.normpath(d))
        for r in sorted(groups.run_id[groups.source == source]):
            if split[r] == "test":
                real.append((r, os.path.join(d, r[len(source) + 1 :])))
    per_run = {}
    for r, t, a in zip(run_of, y_true, y_alert):
        k = per_run.setdefault(r, {})
        key = f"{classes[t]}->{classes[a]}"
        k[key] = k.get(key, 0) + 1
    real_sessions = classify([p for _, p in real], args.model, args.card)
    key_of = {p: r for r, p in real}
    benign_alerts = {}
    attack_files = {}
    for o in real_sessions:
        if o["proto"] not in ("tcp", "udp"):
            continue
        key = key_of[o["file"]]
        label = capture_labels.get(key, {}).get("class", BENIGN)
        if label == EXCLUDE:
            continue
        if label == BENIGN:
            src = key.split("/")[0]
            n, a = benign_alerts.get(src, (0, 0))
            benign_alerts[src] = (n + 1, a + int(o["alert"]))
        else:
            f = attack_files.setdefault(key, {"class": label, "sessions": 0, "alertedAsClass": 0, "alerted": 0})
            f["sessions"] += 1
            f["alerted"] += int(o["alert"])
            f["alertedAsClass"] += int(o["alert"] and counted(o) == label)
    n = sum(v[0] for v in benign_alerts.values())
    a = sum(v[1] for v in benign_alerts.values())
    result = {
        "command": " ".join(["model/.venv/bin/python model/system_eval.py"] + command_args(sys.argv[1:])),
        "modelVersion": card.get("modelVersion"),
        "labTestRuns": lab_runs,
        "labSessions": int(len(y_true)),
        "labMacroF1System": system["macro"]["f1"],
        "labMacroF1ModelAlertsOnly": model_only["macro"]["f1"],
        "labRunLabels": {"sessions": raw["sessions"], "macroF1System": raw["macro"]["f1"],
                         "what": "every session with its run's own label (labels.json), the class definitions of model/train.py not applied"},
        "labPerClassSystem": system["perClass"],
        "labConfusionSystem": {"classes": classes, "rows": confusion.tolist()},
        "labPerRun": per_run,
        "realBenign": {**evaluation.rate(a, n),
                       "bySource": {s: {"sessions": v[0], "alerted": v[1]} for s, v in sorted(benign_alerts.items())}},
        "realAttackFiles": attack_files,
    }
    if args.update_card:
        update_card(os.path.join(ROOT, args.card), result)
    text = json.dumps(result, indent=2)
    if args.out:
        with open(os.path.join(ROOT, args.out), "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
