"""Alerts, not argmax: when a verdict is an alert, and when a session is unlike anything the model knows.

The rule (the same as lib/src/features/alert-policy.ts, which serves it from the card's alertPolicy):
  label = the most probable class, score = its probability;
  unknown = score < unknown.minTopProbability   (the model's trees disagree: no class stands out);
  alert = not unknown and label != benign and score >= thresholds[label].
An unknown session is never an alert. A non-alert keeps its label and score (the analyst can still see "portscan
0.41"); only alerts are counted as detections and as false alarms.

The thresholds and the floor are chosen on validation data, never on test data: every lab validation run, and the
real benign sessions of the validation capture files. The goal is the best lab macro F1 with alerts (a session
counts as its label when alerted, as benign otherwise) while at most FALSE_ALARM_TARGET of the real benign
validation sessions are alerted, each file's sessions weighing at most MAX_ROWS_PER_CAPTURE_FILE sessions' worth.
"""

from __future__ import annotations

import numpy as np

GRID = np.round(np.arange(0.30, 1.0001, 0.01), 2)
FLOORS = np.round(np.arange(0.0, 0.601, 0.05), 2)
NEVER = 1.01  # a threshold no probability reaches: the class never alerts


def decide(proba: np.ndarray, classes: list[str], policy: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """label index, score, alert, unknown per row of probabilities."""
    benign = classes.index(policy["benignClass"])
    label = proba.argmax(1)
    score = proba[np.arange(len(proba)), label]
    unknown = score < policy["unknown"]["minTopProbability"]
    thr = np.array([NEVER if k == policy["benignClass"] else policy["thresholds"][k] for k in classes])
    alert = ~unknown & (label != benign) & (score >= thr[label])
    return label, score, alert, unknown


def alerted_labels(proba: np.ndarray, classes: list[str], policy: dict) -> np.ndarray:
    """The class a session counts as under the policy: its label when alerted, benign otherwise."""
    label, _, alert, _ = decide(proba, classes, policy)
    return np.where(alert, label, classes.index(policy["benignClass"]))


def _alert_counts(proba: np.ndarray, y: np.ndarray, n_classes: int, floor: float) -> np.ndarray:
    """A[d, c, g]: sessions of true class d whose label is c, not unknown, with a score >= GRID[g]."""
    label = proba.argmax(1)
    score = proba[np.arange(len(proba)), label]
    known = score >= floor
    a = np.zeros((n_classes, n_classes, len(GRID)))
    for d in range(n_classes):
        for c in range(n_classes):
            s = np.sort(score[(y == d) & (label == c) & known])
            a[d, c] = len(s) - np.searchsorted(s, GRID - 1e-9, side="left")
    return a


def _false_alarm_counts(proba: np.ndarray, weight: np.ndarray, n_classes: int, floor: float) -> np.ndarray:
    """F[c, g]: weight of real benign sessions labelled c, not unknown, with a score >= GRID[g]."""
    label = proba.argmax(1)
    score = proba[np.arange(len(proba)), label]
    known = score >= floor
    f = np.zeros((n_classes, len(GRID)))
    for c in range(n_classes):
        m = (label == c) & known
        for g, t in enumerate(GRID):
            f[c, g] = weight[m & (score >= t - 1e-9)].sum()
    return f


def _macro_f1(a: np.ndarray, n: np.ndarray, g: np.ndarray, benign: int, attacks: list[int]) -> float:
    """Lab macro F1 with alerts when attack class c alerts from GRID[g[c]] (g[c] == len(GRID): never)."""
    k = len(n)
    alerted = np.zeros((k, k))  # alerted[d, c]: sessions of d alerted as c
    for c in attacks:
        if g[c] < len(GRID):
            alerted[:, c] = a[:, c, g[c]]
    not_alerted = n - alerted.sum(1)
    f1 = []
    for c in range(k):
        if n[c] == 0:
            continue
        if c == benign:
            tp, fp = not_alerted[c], not_alerted.sum() - not_alerted[c]
        else:
            tp, fp = alerted[c, c], alerted[:, c].sum() - alerted[c, c]
        fn = n[c] - tp
        f1.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1)) if f1 else 0.0


def _cost(f: np.ndarray, g: np.ndarray, attacks: list[int]) -> float:
    return float(sum(f[c, g[c]] for c in attacks if g[c] < len(GRID)))


def _allocate(a, f, n, benign: int, attacks: list[int], budget: float, by: str) -> np.ndarray:
    """From "no class alerts", repeatedly lower the one class threshold whose move buys the most macro F1 per false
    alarm (by="rate"; free moves first) or the most macro F1 (by="gain"), as long as the budget holds."""
    g = np.full(len(n), len(GRID))
    spent = 0.0
    score = _macro_f1(a, n, g, benign, attacks)
    while True:
        move = None
        for c in attacks:
            cost_now = f[c, g[c]] if g[c] < len(GRID) else 0.0
            for step in range(g[c] - 1, -1, -1):  # any lower threshold of class c
                trial = g.copy()
                trial[c] = step
                cost = spent - cost_now + f[c, step]
                if cost > budget + 1e-9:
                    break  # lower thresholds only cost more
                gain = _macro_f1(a, n, trial, benign, attacks) - score
                if gain <= 1e-12:
                    continue
                extra = cost - spent
                rate = np.inf if extra <= 1e-12 else gain / extra
                key = (rate, gain) if by == "rate" else (gain, -extra)
                if move is None or key > move[0]:
                    move = (key, c, step, cost)
        if move is None:
            return g
        _, c, step, cost = move
        g[c] = step
        spent = cost
        score = _macro_f1(a, n, g, benign, attacks)


def _polish(a, f, n, g: np.ndarray, benign: int, attacks: list[int], budget: float) -> tuple[float, np.ndarray, float]:
    """Coordinate ascent: move one class's threshold anywhere (never alerting included) while the budget holds and
    macro F1 rises, until no such move is left."""
    g = g.copy()
    score = _macro_f1(a, n, g, benign, attacks)
    for _ in range(50):
        best = None
        for c in attacks:
            for step in range(len(GRID) + 1):
                if step == g[c]:
                    continue
                trial = g.copy()
                trial[c] = step
                if _cost(f, trial, attacks) > budget + 1e-9:
                    continue
                gain = _macro_f1(a, n, trial, benign, attacks) - score
                if gain > 1e-9 and (best is None or gain > best[0]):
                    best = (gain, trial)
        if best is None:
            break
        g = best[1]
        score = _macro_f1(a, n, g, benign, attacks)
    return score, g, _cost(f, g, attacks)


def choose(
    proba_lab: np.ndarray,
    y_lab: np.ndarray,
    proba_real_benign: np.ndarray,
    weight_real_benign: np.ndarray,
    classes: list[str],
    benign_class: str,
    target: float,
) -> dict:
    """Per-class thresholds and the unknown floor with the best lab validation macro F1 with alerts among those
    that alert on at most `target` of the (weighted) real benign validation sessions.

    For each floor, a greedy allocation of the false-alarm budget (_allocate), polished by single-class moves
    (_polish); then the floor with the best macro F1 wins (the higher floor on a tie: fewer confident-looking
    verdicts on traffic the model does not know)."""
    k = len(classes)
    benign = classes.index(benign_class)
    attacks = [c for c in range(k) if c != benign]
    n = np.bincount(y_lab, minlength=k).astype(float)
    total_weight = float(weight_real_benign.sum())
    budget = target * total_weight
    best = None
    for floor in FLOORS:
        a = _alert_counts(proba_lab, y_lab, k, floor)
        f = _false_alarm_counts(proba_real_benign, weight_real_benign, k, floor) if total_weight else np.zeros((k, len(GRID)))
        # Two greedy allocations (by macro F1 per false alarm, and by macro F1 alone: the first can spend the budget
        # on cheap small steps and have none left for a dear large one), each polished by single-class moves; the
        # better one stays.
        score, g, spent = max(
            (_polish(a, f, n, _allocate(a, f, n, benign, attacks, budget, by), benign, attacks, budget) for by in ("rate", "gain")),
            key=lambda r: r[0],
        )
        # Each threshold then goes as low as it can at no cost: no more real benign alerted and no lower validation
        # F1. The greedy stops at the first threshold that catches every validation session of a class; a run that
        # is not in validation gets the margin below it that validation says is free.
        for c in attacks:
            if g[c] >= len(GRID):
                continue
            while g[c] > 0:
                trial = g.copy()
                trial[c] -= 1
                cost = spent - f[c, g[c]] + f[c, trial[c]]
                if cost > spent + 1e-9 or _macro_f1(a, n, trial, benign, attacks) < score - 1e-9:
                    break
                g = trial
        cand = {
            "floor": float(floor),
            "thresholds": {classes[c]: (float(GRID[g[c]]) if g[c] < len(GRID) else NEVER) for c in attacks},
            "validationMacroF1": round(score, 4),
            "validationFalseAlarmRate": round(spent / total_weight, 5) if total_weight else None,
        }
        if best is None or cand["validationMacroF1"] >= best["validationMacroF1"] - 1e-9:
            best = cand  # floors ascend: on a tie the higher floor wins
    return best


def policy_of(choice: dict, benign_class: str, target: float, how: str) -> dict:
    """The card's alertPolicy from a choice of choose()."""
    return {
        "version": 1,
        "benignClass": benign_class,
        "thresholds": choice["thresholds"],
        "unknown": {
            "rule": "topProbabilityBelow",
            "minTopProbability": choice["floor"],
            "meaning": "a session whose most probable class has a probability under minTopProbability is unknown "
            "(unlike anything the model knows well enough to call): never an alert, whatever its label",
        },
        "rule": "alert = not unknown and label != benignClass and score >= thresholds[label], where label is the most "
        "probable class and score its probability",
        "falseAlarmTarget": target,
        "chosenOn": how,
        "validation": {
            "macroF1WithAlerts": choice["validationMacroF1"],
            "realBenignAlertRate": choice["validationFalseAlarmRate"],
        },
    }
