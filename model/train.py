#!/usr/bin/env python3
"""Trains fleetcap's session classifier from the dataset export, chooses its alert policy, evaluates both, and writes
the ONNX model, its card and the evaluation.

    bash model/train.sh                      # the usual way (venv, export if needed, this script)
    model/.venv/bin/python model/train.py --data model/data/dataset.csv --out model

Reads the CSV written by `npx fleetcap dataset export` (run_id, scenario, seed, label, framing, source, file,
max_packets, then the feature columns in the order of lib/src/features/features.ts; older exports without source,
file and max_packets are read as lab rows) and its .meta.json (feature version and names).

Data: the lab's labelled runs, and real captures (source = the captures folder, e.g. zeek, tcpdump-tests), benign
except the few files model/capture-labels.json labels.
Split (model/splits.py): by lab run and by capture file, never by session: train, validation, test.
Model choice: each candidate is fitted on the training split; its alert policy (model/alert_policy.py: per-class
thresholds and the unknown floor) is chosen on the validation split for at most --false-alarm-target of real benign
validation sessions alerted; the candidate with the best validation lab macro F1 with alerts is the model. Only then
is the test split scored, once. The experiments (cross-source, real attacks held out, lab only) refit the chosen
algorithm on other splits and are reported beside it; they never change the shipped model.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import sklearn
import skl2onnx
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alert_policy  # noqa: E402
import evaluation  # noqa: E402
import report  # noqa: E402
from splits import LAB, SPLIT_SEED, assign_splits, lab_generation  # noqa: E402

MAX_MODEL_BYTES = 5 * 1024 * 1024
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
BENIGN = "benign"
EXCLUDE = "exclude"
ORIGINAL = "original"
MAX_TRAIN_ROWS_PER_GROUP = 500  # per lab run, class and framing
MAX_ROWS_PER_CAPTURE_FILE = 40  # training rows per real capture file and class; also its weight cap in validation
FALSE_ALARM_TARGET = 0.01
TARGETS = {"macroF1": 0.95, "minClasses": 6, "minClassF1": 0.85}  # issue 6, on the argmax
BARS = {"realBenignAlertRate": 0.01, "labMacroF1WithAlerts": 0.95, "ftpBruteforceAlertedAsBruteforce": 0.5}  # issue 13
FTP_BRUTEFORCE = "zeek/ftp/bruteforce.pcap"
META_COLUMNS = ["run_id", "scenario", "seed", "label", "framing", "source", "file", "max_packets"]
OLD_META_COLUMNS = ["run_id", "scenario", "seed", "label", "framing"]


def algorithms():
    """Small, fast models; the depth and size limits keep the ONNX file far under 5 MB. (HistGradientBoosting was a
    candidate until skl2onnx 1.20 failed to convert scikit-learn 1.9's boosted trees: an unservable model.) The
    "wide" forests look at a quarter or half of the features at each split instead of the square root: the
    framings shift every length by the link header, so telling a flood's SYN from a scan's takes a split on a
    length and one on another length together, which a sqrt-sized draw of 135 features rarely offers."""
    return {
        "random_forest": lambda: RandomForestClassifier(
            n_estimators=80, max_depth=14, min_samples_leaf=2, max_features="sqrt", n_jobs=2, random_state=1
        ),
        "random_forest_wide": lambda: RandomForestClassifier(
            n_estimators=80, max_depth=20, min_samples_leaf=2, max_features=0.25, n_jobs=2, random_state=1
        ),
        "random_forest_half": lambda: RandomForestClassifier(
            n_estimators=60, max_depth=18, min_samples_leaf=2, max_features=0.5, n_jobs=2, random_state=1
        ),
        "extra_trees": lambda: ExtraTreesClassifier(
            n_estimators=120, max_depth=16, min_samples_leaf=2, max_features="sqrt", n_jobs=2, random_state=1
        ),
    }


def candidates() -> list[dict]:
    """Algorithm x training data: the share of the benign class's weight that real captures get, and whether the
    cut-short copies of the training sessions are trained on too. All are compared on the validation split only."""
    make = algorithms()
    out = []
    for algorithm, share, cuts in [
        ("random_forest_wide", 0.5, False),
        ("random_forest_wide", 0.25, False),
        ("random_forest_wide", 0.5, True),
        ("random_forest_half", 0.5, False),
        ("extra_trees", 0.5, False),
    ]:
        out.append(
            {
                "name": f"{algorithm} real-benign-share={share}{' +cuts' if cuts else ''}",
                "algorithm": algorithm,
                "make": make[algorithm],
                "realBenignShare": share,
                "trainOnCuts": cuts,
            }
        )
    return out


def load(path: str) -> tuple[pd.DataFrame, dict, list[str]]:
    meta_path = path[:-4] + ".meta.json" if path.endswith(".csv") else path + ".meta.json"
    with open(meta_path) as f:
        meta = json.load(f)
    names = list(meta["featureNames"])
    text = {c: str for c in ["run_id", "scenario", "label", "framing", "source", "file"]}
    df = pd.read_csv(path, dtype=text, keep_default_na=False)
    if "framing" not in df.columns:
        df.insert(4, "framing", ORIGINAL)
    if "source" not in df.columns:  # an export from before real captures: all lab rows of full sessions
        df.insert(5, "source", LAB)
        df.insert(6, "file", df.run_id + "/capture.pcap")
        df.insert(7, "max_packets", int(meta["maxPackets"]))
    if list(df.columns) != META_COLUMNS + names:
        raise SystemExit("train: the CSV's columns are not those of its .meta.json")
    df, moved = without_guessless_http(df)
    meta["guesslessHttpSessionsExcluded"] = moved
    df = df[df.label != EXCLUDE].reset_index(drop=True)  # not a class: sessions the labels leave out
    return df, meta, names


def session_numbers(df: pd.DataFrame) -> np.ndarray:
    """The session each row belongs to: the export writes a session's rows together, its full original-framing row
    first (then the other framings, then the cut-short copies), so every such row starts a session."""
    starts = ((df.framing == ORIGINAL) & (df.max_packets == df.max_packets.max())).to_numpy()
    return np.cumsum(starts) - 1


def without_guessless_http(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The class definition of bruteforce: a session that guesses a password. The lab labels every session of a
    brute-force run's attacker as bruteforce, but hydra's http-post-form fetches the login form with a plain GET (no
    credentials, 200) in a connection of its own before its POSTs: that session is no guess, and a user's page fetch
    is the same session, so it is not a class the model can have (the brute-force detector, which counts the guesses
    across sessions, is what sees the attack). Such sessions (an HTTP request and no login attempt in the full
    session) become EXCLUDE with all their rows (framings and cut-short copies). Encrypted sessions (SSH, HTTPS), whose
    attempts the features cannot read, keep their label."""
    sess = session_numbers(df)
    first = (df.framing == ORIGINAL) & (df.max_packets == df.max_packets.max())
    guessless = first & (df.source == LAB) & (df.label == "bruteforce") & (df.http_requests > 0) & (df.login_attempts == 0)
    drop = np.isin(sess, sess[guessless.to_numpy()])
    df = df.copy()
    df.loc[drop, "label"] = EXCLUDE
    return df, int(guessless.sum())


def training_rows(df: pd.DataFrame, split: np.ndarray, full: np.ndarray, with_cuts: bool) -> np.ndarray:
    """Training rows, capped per group (a seeded sample): a flood run gives thousands of near-identical probes and a
    real capture file may repeat one exchange a hundred times; neither adds what the weights do not already give.
    With with_cuts, the cut-short copies of the training sessions are training rows too (capped alike)."""
    m = (split == "train") & (np.ones(len(df), dtype=bool) if with_cuts else full)
    sub = df[m]
    rank = (
        sub.sample(frac=1.0, random_state=SPLIT_SEED)
        .groupby(["run_id", "label", "framing", "max_packets"])
        .cumcount()
        .reindex(sub.index)
    )
    cap = np.where(sub.source == LAB, MAX_TRAIN_ROWS_PER_GROUP, MAX_ROWS_PER_CAPTURE_FILE)
    keep = np.zeros(len(df), dtype=bool)
    keep[np.flatnonzero(m)[rank.to_numpy() < cap]] = True
    return keep


def sample_weights(df: pd.DataFrame, real_benign_share: float) -> np.ndarray:
    """Each run or capture file counts by the square root of its rows of a class (one huge scan does not drown the
    others), every class weighs the same in total (benign is not swamped by scan probes), and within benign the real
    captures' sessions weigh real_benign_share of the class, the lab's the rest (neither the lab's few clients nor
    the real files' many protocols decide alone what benign looks like)."""
    group = df.groupby(["run_id", "label"]).label.transform("size").to_numpy(dtype=float)
    w = 1.0 / np.sqrt(group)
    labels = df.label.to_numpy()
    real = (df.source != LAB).to_numpy()
    n_classes = len(np.unique(labels))
    per_class = len(df) / n_classes
    for c in np.unique(labels):
        m = labels == c
        if c == BENIGN and real[m].any() and (~real[m]).any():
            w[m & real] *= per_class * real_benign_share / w[m & real].sum()
            w[m & ~real] *= per_class * (1 - real_benign_share) / w[m & ~real].sum()
        else:
            w[m] *= per_class / w[m].sum()
    return w


def file_weights(groups: np.ndarray) -> np.ndarray:
    """Each file's sessions weigh at most MAX_ROWS_PER_CAPTURE_FILE sessions' worth in the threshold choice."""
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    return np.minimum(1.0, MAX_ROWS_PER_CAPTURE_FILE / counts[inverse])


class Data:
    """The rows and the masks every step uses."""

    def __init__(self, df: pd.DataFrame, names: list[str], classes: list[str], max_packets: int):
        self.df = df
        self.classes = classes
        self.x = df[names].to_numpy(dtype=np.float32)
        self.y = df.label.map({k: i for i, k in enumerate(classes)}).to_numpy()
        self.full = (df.max_packets == max_packets).to_numpy()
        self.orig = (df.framing == ORIGINAL).to_numpy()
        self.lab = (df.source == LAB).to_numpy()
        self.benign = (df.label == BENIGN).to_numpy()
        self.group = df.run_id.to_numpy()
        self.source = df.source.to_numpy()
        self.max_packets = df.max_packets.to_numpy()
        self.names = list(names)


def fit(data: Data, split: np.ndarray, candidate: dict) -> tuple[object, np.ndarray]:
    keep = training_rows(data.df, split, data.full, candidate["trainOnCuts"])
    model = candidate["make"]()
    model.fit(data.x[keep], data.y[keep], sample_weight=sample_weights(data.df[keep], candidate["realBenignShare"]))
    return model, keep


def choose_policy(model, data: Data, split: np.ndarray, target: float) -> tuple[dict, dict]:
    val = (split == "validation") & data.full & data.orig
    lab_val = val & data.lab
    real_val = val & ~data.lab & data.benign
    proba_lab = model.predict_proba(data.x[lab_val]) if lab_val.any() else np.zeros((0, len(data.classes)))
    proba_real = model.predict_proba(data.x[real_val]) if real_val.any() else np.zeros((0, len(data.classes)))
    w = file_weights(data.group[real_val]) if real_val.any() else np.zeros(0)
    choice = alert_policy.choose(proba_lab, data.y[lab_val], proba_real, w, data.classes, BENIGN, target)
    how = (
        f"validation split: {int(lab_val.sum())} sessions of {len(set(data.group[lab_val]))} lab runs and "
        f"{int(real_val.sum())} real benign sessions of {len(set(data.group[real_val]))} capture files "
        f"(each file weighing at most {MAX_ROWS_PER_CAPTURE_FILE} sessions)"
    )
    policy = alert_policy.policy_of(choice, BENIGN, target, how)
    argmax = evaluation.metrics(data.y[lab_val], proba_lab.argmax(1), data.classes) if lab_val.any() else None
    return policy, {"argmaxMacroF1": argmax["macro"]["f1"] if argmax else None, **choice}


def attack_files(model, policy: dict, data: Data, split: np.ndarray) -> list[dict]:
    """Every real capture file with sessions of an attack class: where it is and what the policy makes of it."""
    out = []
    m_all = data.full & ~data.lab
    attack_groups = sorted(set(data.group[m_all & ~data.benign]))
    for g in attack_groups:
        m = m_all & (data.group == g)
        label, score, alert, unknown = alert_policy.decide(model.predict_proba(data.x[m]), data.classes, policy)
        y = data.y[m]
        verdicts = {}
        for lab, a, u in zip(label, alert, unknown):
            key = "unknown" if u else f"{data.classes[lab]}{' (alert)' if a else ''}"
            verdicts[key] = verdicts.get(key, 0) + 1
        true = data.classes[int(np.bincount(y).argmax())]
        out.append(
            {
                "file": g,
                "split": str(split[m][0]),
                "class": true,
                "sessions": int(m.sum()),
                "alertedAsClass": int((alert & (label == y)).sum()),
                "alerted": int(alert.sum()),
                "unknown": int(unknown.sum()),
                "verdicts": verdicts,
                "meanScore": round(float(score.mean()), 4),
            }
        )
    return out


def evaluate(model, policy: dict, data: Data, split: np.ndarray, cuts: list[int], max_packets: int) -> dict:
    """Every measure on the test split, once."""
    classes = data.classes
    test = split == "test"
    lab_te = test & data.lab & data.full & data.orig
    real_te = test & ~data.lab & data.full & data.benign
    out: dict = {}

    proba = model.predict_proba(data.x[lab_te])
    out["labArgmax"] = evaluation.metrics(data.y[lab_te], proba.argmax(1), classes)
    counted = alert_policy.alerted_labels(proba, classes, policy)
    out["labWithAlerts"] = evaluation.metrics(data.y[lab_te], counted, classes)
    _, _, alert, unknown = alert_policy.decide(proba, classes, policy)
    out["labUnknownShare"] = {
        k: round(float(unknown[data.y[lab_te] == i].mean()), 4) for i, k in enumerate(classes) if (data.y[lab_te] == i).any()
    }
    out["labRuns"] = sorted(set(data.group[lab_te]))
    by_framing = {}
    for f in sorted(set(data.df.framing[test & data.lab & data.full]), key=lambda f: (f != ORIGINAL, f)):
        m = test & data.lab & data.full & (data.df.framing == f).to_numpy()
        by_framing[f] = evaluation.metrics(data.y[m], alert_policy.alerted_labels(model.predict_proba(data.x[m]), classes, policy), classes)["macro"]["f1"]
    out["labWithAlertsByFraming"] = by_framing
    by_generation = {}
    generation = np.array([lab_generation(g) for g in data.group])
    for gen in sorted(set(generation[lab_te])):
        m = lab_te & (generation == gen)
        f1 = evaluation.metrics(data.y[m], alert_policy.alerted_labels(model.predict_proba(data.x[m]), classes, policy), classes)
        by_generation[gen] = {"macroF1": f1["macro"]["f1"], "f1": {c: v["f1"] for c, v in f1["perClass"].items()}, "runs": sorted(set(data.group[m]))}
    out["labWithAlertsByGeneration"] = by_generation

    proba_real = model.predict_proba(data.x[real_te])
    label_r, _, alert_r, unknown_r = alert_policy.decide(proba_real, classes, policy)
    out["realBenign"] = evaluation.false_alarms(alert_r, data.group[real_te], label_r, classes)
    out["realBenign"]["unknown"] = int(unknown_r.sum())
    out["realBenign"]["argmaxNotBenign"] = evaluation.rate(int((label_r != classes.index(BENIGN)).sum()), len(label_r))
    out["realBenignBySource"] = {}
    for s in sorted(set(data.source[real_te])):
        m = data.source[real_te] == s
        out["realBenignBySource"][s] = evaluation.false_alarms(alert_r[m], data.group[real_te][m], label_r[m], classes)
        out["realBenignBySource"][s]["unknown"] = int(unknown_r[m].sum())

    cut = {}
    for k in sorted(set(cuts) | {max_packets}):
        ml = test & data.lab & data.orig & (data.max_packets == k)
        mr = test & ~data.lab & data.benign & (data.max_packets == k)
        if not ml.any():
            continue
        f1 = evaluation.metrics(data.y[ml], alert_policy.alerted_labels(model.predict_proba(data.x[ml]), classes, policy), classes)
        _, _, a, _ = alert_policy.decide(model.predict_proba(data.x[mr]), classes, policy) if mr.any() else (None, None, np.zeros(0, bool), None)
        cut[str(k)] = {
            "labMacroF1WithAlerts": f1["macro"]["f1"],
            "labF1": {c: v["f1"] for c, v in f1["perClass"].items()},
            "realBenignAlertRate": evaluation.rate(int(a.sum()), len(a)),
        }
    out["cutShort"] = cut

    both = np.concatenate([proba, proba_real])
    y_both = np.concatenate([data.y[lab_te], data.y[real_te]])
    out["calibration"] = {
        "lab": evaluation.calibration(proba, data.y[lab_te]),
        "realBenign": evaluation.calibration(proba_real, data.y[real_te]),
        "all": evaluation.calibration(both, y_both),
    }
    return out


def experiment(name: str, what: str, candidate: dict, data: Data, split: np.ndarray, target: float, focus_source: str | None, max_packets: int) -> dict:
    """Refits the chosen algorithm on another split and scores its held-out part."""
    print(f"train: experiment {name}: {what}", file=sys.stderr)
    model, keep = fit(data, split, candidate)
    policy, _ = choose_policy(model, data, split, target)
    ev = evaluate(model, policy, data, split, [], max_packets)
    out = {
        "name": name,
        "what": what,
        "trainingRows": int(keep.sum()),
        "thresholds": policy["thresholds"],
        "minTopProbability": policy["unknown"]["minTopProbability"],
        "validationRealBenignAlertRate": policy["validation"]["realBenignAlertRate"],
        "labTestMacroF1WithAlerts": ev["labWithAlerts"]["macro"]["f1"],
        "labTestF1": {k: v["f1"] for k, v in ev["labWithAlerts"]["perClass"].items()},
        "realBenignTest": {k: v for k, v in ev["realBenign"].items() if k != "topFiles"},
        "realBenignTestBySource": {s: {k: v for k, v in r.items() if k != "topFiles"} for s, r in ev["realBenignBySource"].items()},
        "attackFiles": [f for f in attack_files(model, policy, data, split) if f["split"] == "test"],
    }
    if focus_source:
        out["heldOutSource"] = focus_source
        out["topFiles"] = ev["realBenignBySource"].get(focus_source, {}).get("topFiles", [])
    return out


class OnnxModel:
    """An exported model, scored like a fitted one."""

    def __init__(self, path: str, columns: list[int] | None = None):
        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.columns = columns

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if self.columns is not None:
            x = x[:, self.columns]
        out = []
        for i in range(0, len(x), 65536):
            out.append(self.session.run(["probabilities"], {"features": x[i : i + 65536].astype(np.float32)})[0])
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def score_baseline(path: str, data: Data, split: np.ndarray, cuts: list[int], max_packets: int) -> dict:
    """Another model (e.g. the one shipped today) on the same test split, with its card's alert policy or, without
    one, the argmax (every non-benign label an alert, which is how its verdicts were read)."""
    card_path = path[: -len(".onnx")] + "-card.json" if path.endswith(".onnx") else path + "-card.json"
    with open(card_path) as f:
        card = json.load(f)
    if list(card["classes"]) != data.classes:
        raise SystemExit(f"train: the baseline's classes {card['classes']} are not the data's {data.classes}")
    # A model of an older feature version reads its own features: each later version only adds columns, so the
    # baseline gets its names' columns of this export (the values of those names are computed as they were).
    columns = [data.names.index(n) for n in card["features"]["names"]]
    policy = card.get("alertPolicy") or {
        "benignClass": BENIGN,
        "thresholds": {k: 0.0 for k in data.classes if k != BENIGN},
        "unknown": {"minTopProbability": 0.0},
    }
    ev = evaluate(OnnxModel(path, columns), policy, data, split, cuts, max_packets)
    return {
        "model": card["modelVersion"],
        "policy": "the card's alertPolicy" if card.get("alertPolicy") else "argmax (the card has no alertPolicy)",
        "labTestMacroF1WithAlerts": ev["labWithAlerts"]["macro"]["f1"],
        "labTestF1": {k: v["f1"] for k, v in ev["labWithAlerts"]["perClass"].items()},
        "realBenignTest": {k: v for k, v in ev["realBenign"].items() if k != "topFiles"},
        "realBenignTestBySource": {s: {k: v for k, v in r.items() if k != "topFiles"} for s, r in ev["realBenignBySource"].items()},
        "attackFiles": attack_files(OnnxModel(path, columns), policy, data, split),
        "note": "the baseline was trained on other lab runs (its own card's); none of these lab runs or real captures",
    }


def to_onnx(model, n_features: int) -> bytes:
    onx = convert_sklearn(
        model,
        initial_types=[("features", FloatTensorType([None, n_features]))],
        options={id(model): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    return onx.SerializeToString()


def check_onnx(blob: bytes, model, x: np.ndarray) -> dict:
    """The exported graph must answer like the sklearn model, with the contract forecast checks."""
    sess = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    inputs = sess.get_inputs()
    outputs = {o.name: o for o in sess.get_outputs()}
    assert len(inputs) == 1 and inputs[0].name == "features", inputs
    assert inputs[0].shape[1] == x.shape[1], inputs[0].shape
    assert "label" in outputs and "probabilities" in outputs, list(outputs)
    label, proba = sess.run(["label", "probabilities"], {"features": x.astype(np.float32)})
    ref = model.predict_proba(x.astype(np.float32))
    diff = float(np.max(np.abs(proba - ref))) if len(x) else 0.0
    agree = float(np.mean(np.argmax(proba, axis=1) == np.argmax(ref, axis=1))) if len(x) else 1.0
    assert diff < 1e-3, f"ONNX probabilities differ from sklearn's by {diff}"
    assert agree > 0.999, f"ONNX and sklearn agree on only {agree:.4f} of the argmaxes"
    return {"maxProbabilityDiff": diff, "argmaxAgreement": agree}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="model/data/dataset.csv")
    ap.add_argument("--out", default="model")
    ap.add_argument("--placeholder", default="", help="why this model is only a placeholder (empty: a real model)")
    ap.add_argument("--false-alarm-target", type=float, default=FALSE_ALARM_TARGET)
    ap.add_argument("--no-experiments", action="store_true", help="skip the cross-source and held-out experiments")
    ap.add_argument(
        "--baseline",
        default="",
        help="an ONNX model (its card beside it) to score on the same test split, e.g. the shipped model/model.onnx",
    )
    ap.add_argument("--command", default="bash model/train.sh", help="the command that made this, for the card")
    args = ap.parse_args()

    df, meta, names = load(args.data)
    print(f"train: {meta['guesslessHttpSessionsExcluded']} guessless HTTP sessions of brute-force runs excluded", file=sys.stderr)
    classes = sorted(df.label.unique(), key=lambda k: (k != BENIGN, k))
    if BENIGN not in classes:
        print(f"train: no '{BENIGN}' sessions in the data", file=sys.stderr)
        return 2
    max_packets = int(meta["maxPackets"])
    cuts = [int(k) for k in sorted(set(df.max_packets)) if k != max_packets]
    data = Data(df, names, classes, max_packets)
    # The real capture files that hold attacks are never trained or validated on: they are the held-out test of
    # whether the lab's attacks teach what real attacks look like (the FTP brute-force bar is measured on them).
    attack_groups = frozenset(data.group[~data.lab & ~data.benign])
    split = assign_splits(df, test_only_groups=attack_groups)
    target = args.false_alarm_target

    # Model choice on the validation split.
    scored, unexportable = [], []
    for cand in candidates():
        name = cand["name"]
        model, keep = fit(data, split, cand)
        try:
            to_onnx(model, len(names))
        except Exception as err:  # noqa: BLE001 - a converter that cannot export this model makes it unservable
            print(f"train: {name}: cannot be exported to ONNX ({type(err).__name__}: {str(err)[:120]}); not a candidate", file=sys.stderr)
            unexportable.append({"name": name, "error": f"{type(err).__name__}: {str(err)[:200]}"})
            continue
        policy, val = choose_policy(model, data, split, target)
        scored.append({**cand, "model": model, "policy": policy, "validation": val, "rows": int(keep.sum())})
        print(
            f"train: {name}: validation lab macro F1 with alerts {val['validationMacroF1']} (argmax {val['argmaxMacroF1']}), "
            f"real benign alerted {val['validationFalseAlarmRate']}, floor {val['floor']}, thresholds {val['thresholds']}",
            file=sys.stderr,
        )
    best = max(scored, key=lambda s: s["validation"]["validationMacroF1"])
    model, policy = best["model"], best["policy"]

    ev = evaluate(model, policy, data, split, cuts, max_packets)
    ev["attackFiles"] = attack_files(model, policy, data, split)
    ftp = next((f for f in ev["attackFiles"] if f["file"] == FTP_BRUTEFORCE), None)
    print(
        f"train: chose {best['name']}; test: lab macro F1 with alerts {ev['labWithAlerts']['macro']['f1']} "
        f"(argmax {ev['labArgmax']['macro']['f1']}), real benign alerted {ev['realBenign']['rate']} "
        f"{ev['realBenign']['ci95']} ({ev['realBenign']['alerts']}/{ev['realBenign']['sessions']})",
        file=sys.stderr,
    )

    experiments = []
    if not args.no_experiments:
        make = best
        sources = sorted(s for s in set(data.source) if s != LAB)
        for s in sources:
            experiments.append(
                experiment(
                    f"without-{s}",
                    f"trained and validated without any {s} capture; tested on all of {s} (and the lab's test runs)",
                    make, data, assign_splits(df, test_only_sources=(s,), test_only_groups=attack_groups), target, s, max_packets,
                )
            )
        if sources:
            experiments.append(
                experiment(
                    "lab-only",
                    "trained and validated on the lab only (as before real captures were data: no real benign validation "
                    "sessions, so the thresholds only serve lab F1); tested on every real capture",
                    make, data, assign_splits(df, test_only_sources=tuple(sources), test_only_groups=attack_groups), target, None, max_packets,
                )
            )

    baseline = score_baseline(args.baseline, data, split, cuts, max_packets) if args.baseline else None

    blob = to_onnx(model, len(names))
    if len(blob) > MAX_MODEL_BYTES:
        print(f"train: the ONNX model is {len(blob)} bytes, over the {MAX_MODEL_BYTES} limit", file=sys.stderr)
        return 1
    te = (split == "test") & data.full
    check = check_onnx(blob, model, data.x[te] if te.any() else data.x[:1000])
    sha = hashlib.sha256(blob).hexdigest()
    now = dt.datetime.now(dt.timezone.utc)
    prefix = "placeholder" if args.placeholder else "fc"
    version = f"{prefix}-f{meta['featureVersion']}-{now:%Y%m%d}-{sha[:8]}"

    sessions = df[data.full & data.orig]
    sessions_split = split[data.full & data.orig]
    per_class = {}
    for k in classes:
        m = (sessions.label == k).to_numpy()
        per_class[k] = {s: int((m & (sessions_split == s)).sum()) for s in ("train", "validation", "test")}
        per_class[k]["sessions"] = int(m.sum())
        per_class[k]["labRuns"] = {s: int(sessions[m & (sessions_split == s) & (sessions.source == LAB).to_numpy()].run_id.nunique()) for s in ("train", "validation", "test")}
    per_source = {}
    for s in sorted(set(sessions.source)):
        m = (sessions.source == s).to_numpy()
        per_source[s] = {
            sp: {"groups": int(sessions[m & (sessions_split == sp)].run_id.nunique()), "sessions": int((m & (sessions_split == sp)).sum())}
            for sp in ("train", "validation", "test")
        }
    labw = ev["labWithAlerts"]
    f1s = [v["f1"] for v in ev["labArgmax"]["perClass"].values() if v["support"] > 0]
    meets_targets = (
        ev["labArgmax"]["macro"]["f1"] >= TARGETS["macroF1"] and len(classes) >= TARGETS["minClasses"]
        and len(f1s) == len(classes) and min(f1s) >= TARGETS["minClassF1"]
    )
    bars = {
        "realBenignAlertRate": {"bar": f"<= {BARS['realBenignAlertRate']}", "value": ev["realBenign"]["rate"], "ci95": ev["realBenign"]["ci95"], "met": ev["realBenign"]["rate"] is not None and ev["realBenign"]["rate"] <= BARS["realBenignAlertRate"]},
        "labMacroF1WithAlerts": {"bar": f">= {BARS['labMacroF1WithAlerts']}", "value": labw["macro"]["f1"], "met": labw["macro"]["f1"] >= BARS["labMacroF1WithAlerts"]},
        "ftpBruteforceAlertedAsBruteforce": {
            "bar": "most sessions alerted as bruteforce",
            "value": round(ftp["alertedAsClass"] / ftp["sessions"], 4) if ftp else None,
            "split": ftp["split"] if ftp else None,
            "met": bool(ftp and ftp["alertedAsClass"] / ftp["sessions"] >= BARS["ftpBruteforceAlertedAsBruteforce"]),
        },
    }
    params = {k: v for k, v in model.get_params().items() if isinstance(v, (int, float, str, bool)) or v is None}
    importances = None
    if hasattr(model, "feature_importances_"):
        order = np.argsort(model.feature_importances_)[::-1][:20]
        importances = [{"feature": names[i], "importance": round(float(model.feature_importances_[i]), 4)} for i in order]

    card = {
        "name": "fleetcap-session-classifier",
        "modelVersion": version,
        "placeholder": bool(args.placeholder),
        "placeholderReason": args.placeholder or None,
        "createdAt": now.isoformat(timespec="seconds"),
        "modelFile": "model.onnx",
        "modelSha256": sha,
        "modelBytes": len(blob),
        "classes": classes,
        "benignClass": BENIGN,
        "onnx": {
            "input": {"name": "features", "type": "float32", "shape": [None, len(names)]},
            "outputs": {
                "label": "int64 [N]: index into classes",
                "probabilities": f"float32 [N, {len(classes)}]: one probability per class, in the order of classes",
            },
            "opset": TARGET_OPSET,
            "exportCheck": check,
        },
        "features": {
            "version": meta["featureVersion"],
            "names": names,
            "maxPackets": meta["maxPackets"],
            "windowUs": meta["windowUs"],
            "code": "lib/src/features/features.ts",
        },
        "alertPolicy": policy,
        "algorithm": {
            "name": best["algorithm"],
            "candidate": best["name"],
            "sklearn": type(model).__name__,
            "params": params,
            "realBenignShare": best["realBenignShare"],
            "trainOnCuts": best["trainOnCuts"],
        },
        "candidates": [
            {"name": s["name"], "algorithm": s["algorithm"], "realBenignShare": s["realBenignShare"], "trainOnCuts": s["trainOnCuts"], "trainingRows": s["rows"], "validationMacroF1WithAlerts": s["validation"]["validationMacroF1"], "validationArgmaxMacroF1": s["validation"]["argmaxMacroF1"], "validationRealBenignAlertRate": s["validation"]["validationFalseAlarmRate"]}
            for s in scored
        ],
        "candidatesNotExportable": unexportable,
        "dataset": {
            "sources": per_source,
            "sessions": int(len(sessions)),
            "rows": int(len(df)),
            "framings": sorted(set(df.framing), key=lambda f: (f != ORIGINAL, f)),
            "cuts": cuts,
            "trainRowCap": f"at most {MAX_TRAIN_ROWS_PER_GROUP} training rows per lab run, class and framing, and {MAX_ROWS_PER_CAPTURE_FILE} per real capture file and class (seeded sample); validation and test rows all kept",
            "perClass": per_class,
            "weights": f"per row 1/sqrt(rows of its run or file and class); each class scaled to equal total weight; within benign, real captures {best['realBenignShare']} of the class weight, the lab the rest",
            "captureLabels": "model/capture-labels.json",
        },
        "split": {
            "method": (
                "By lab run and by capture file, never by session (model/splits.py). Lab: per scenario and lab generation (v1: the near-zero-RTT lab of 2026-11; v2: the broadened lab with WAN links), the runs are "
                f"shuffled (seed {SPLIT_SEED}); 30% of them (at least one of two or more) are test, 20% (at least one of "
                "three or more) validation, the rest training, each with every session it contains, attack and "
                "background benign alike. Real captures: a file's split is fixed by the SHA-256 of '<source>/<path>' "
                "(first 32 bits as a fraction: < 0.30 test, < 0.55 validation, else training). Candidates are fitted on "
                "training, their alert policies chosen and compared on validation; the chosen model is scored once on test."
            ),
            "seed": SPLIT_SEED,
            "labRuns": {s: sorted(set(data.group[(split == s) & data.lab])) for s in ("train", "validation", "test")},
        },
        "heldOut": ev["labArgmax"],
        "heldOutWithAlerts": ev["labWithAlerts"],
        "heldOutMacroF1ByFraming": ev["labWithAlertsByFraming"],
        "heldOutWithAlertsByLabGeneration": ev["labWithAlertsByGeneration"],
        "evaluation": {
            "realBenign": ev["realBenign"],
            "realBenignBySource": ev["realBenignBySource"],
            "labUnknownShare": ev["labUnknownShare"],
            "attackFiles": ev["attackFiles"],
            "cutShort": ev["cutShort"],
            "calibration": ev["calibration"],
            "experiments": experiments,
            "baseline": baseline,
        },
        "featureImportances": importances,
        "targets": TARGETS,
        "meetsTargets": bool(meets_targets),
        "bars": bars,
        "meetsBars": all(b["met"] for b in bars.values()),
        "limits": report.limits(meta),
        "rebuild": report.rebuild_commands(args.command),
        "versions": {
            "python": sys.version.split()[0],
            "scikit-learn": sklearn.__version__,
            "skl2onnx": skl2onnx.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
        },
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "model.onnx"), "wb") as f:
        f.write(blob)
    with open(os.path.join(args.out, "model-card.json"), "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    report.write_card_md(card, os.path.join(args.out, "MODEL_CARD.md"))
    report.write_evaluation_md(card, os.path.join(args.out, "EVALUATION.md"))
    print(
        f"train: wrote {args.out}/model.onnx ({len(blob)} bytes, {version}), model-card.json, MODEL_CARD.md, EVALUATION.md; "
        f"bars {'met' if card['meetsBars'] else 'NOT met'}: " + ", ".join(f"{k} {v['value']} ({'met' if v['met'] else 'not met'})" for k, v in bars.items()),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
