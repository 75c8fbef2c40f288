"""Measures of a model and its alert policy on held-out data: per-class detection with alerts, the false-alarm rate on
real benign traffic at its base rate (with a binomial confidence interval), calibration."""

from __future__ import annotations

import numpy as np
from scipy.stats import beta
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

CONFIDENCE = 0.95
CALIBRATION_BINS = 10


def clopper_pearson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact two-sided binomial interval for k successes in n trials."""
    if n == 0:
        return (0.0, 1.0)
    a = (1 - confidence) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return (lo, hi)


def rate(k: int, n: int) -> dict:
    lo, hi = clopper_pearson(k, n)
    return {
        "alerts": int(k),
        "sessions": int(n),
        "rate": round(k / n, 5) if n else None,
        "ci95": [round(lo, 5), round(hi, 5)],
        "interval": "Clopper-Pearson (exact binomial), 95%",
    }


def metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    idx = list(range(len(classes)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=idx, zero_division=0)
    present = [i for i in idx if s[i] > 0]
    cm = confusion_matrix(y_true, y_pred, labels=idx)
    return {
        "sessions": int(len(y_true)),
        "perClass": {
            classes[i]: {
                "precision": round(float(p[i]), 4),
                "recall": round(float(r[i]), 4),
                "f1": round(float(f[i]), 4),
                "support": int(s[i]),
            }
            for i in idx
        },
        "macro": {
            "precision": round(float(np.mean(p[present])), 4) if present else 0.0,
            "recall": round(float(np.mean(r[present])), 4) if present else 0.0,
            "f1": round(float(np.mean(f[present])), 4) if present else 0.0,
            "over": [classes[i] for i in present],
        },
        "accuracy": round(float(np.mean(y_true == y_pred)), 4) if len(y_true) else 0.0,
        "confusionMatrix": {"labels": classes, "rowsAreTrue": True, "rows": cm.tolist()},
    }


def calibration(proba: np.ndarray, y: np.ndarray, bins: int = CALIBRATION_BINS) -> dict:
    """Reliability of the top probability: per bin of it, the share of sessions whose most probable class is the true
    one; ECE is the session-weighted mean gap between the two."""
    if len(y) == 0:
        return {"sessions": 0, "ece": None, "bins": []}
    conf = proba.max(1)
    correct = proba.argmax(1) == y
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=False), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        m = which == b
        if not m.any():
            continue
        c, a = float(conf[m].mean()), float(correct[m].mean())
        ece += m.sum() / len(y) * abs(c - a)
        rows.append({"from": round(edges[b], 2), "to": round(edges[b + 1], 2), "sessions": int(m.sum()), "meanTopProbability": round(c, 4), "accuracy": round(a, 4)})
    return {"sessions": int(len(y)), "ece": round(ece, 4), "bins": rows}


def false_alarms(alert: np.ndarray, groups: np.ndarray, labels_alerted: np.ndarray, classes: list[str]) -> dict:
    """Alerts on real benign sessions: at the base rate (per session), per file, and the files that alert most."""
    out = rate(int(alert.sum()), len(alert))
    files = {}
    for g, a, lab in zip(groups, alert, labels_alerted):
        f = files.setdefault(g, {"sessions": 0, "alerts": 0, "as": {}})
        f["sessions"] += 1
        if a:
            f["alerts"] += 1
            f["as"][classes[lab]] = f["as"].get(classes[lab], 0) + 1
    out["files"] = len(files)
    out["filesWithAlerts"] = sum(1 for f in files.values() if f["alerts"])
    out["meanFileAlertRate"] = round(float(np.mean([f["alerts"] / f["sessions"] for f in files.values()])), 5) if files else None
    out["alertsAs"] = {}
    for lab in labels_alerted[alert]:
        out["alertsAs"][classes[lab]] = out["alertsAs"].get(classes[lab], 0) + 1
    out["topFiles"] = [
        {"file": g, **f}
        for g, f in sorted(files.items(), key=lambda kv: (-kv[1]["alerts"], kv[0]))
        if f["alerts"]
    ][:15]
    return out
