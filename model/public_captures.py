"""The evaluation over public captures outside ../shared (bench/public-captures/results.json, written by
bench/public-captures/evaluate.ts) into the model card, and both Markdown files re-rendered. Nothing is fitted or
chosen from these numbers: they are measured after the fact.
    python3 model/public_captures.py [--results bench/public-captures/results.json] [--card model/model-card.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMAND = ("bash bench/public-captures/fetch.sh && node --import tsx --conditions=fleetcap-source "
           "bench/public-captures/evaluate.ts --out bench/public-captures/results.json && python3 model/public_captures.py")


def _short(s: dict) -> dict:
    keep = ("files", "filesWithSessions", "sessions", "modelAlerts", "alertsAsServed", "filesAlerted", "detections", "unknown")
    return {k: s[k] for k in keep}


def summary(results: dict) -> dict:
    sources = {}
    attacks = []
    for name, r in results["results"].items():
        sources[name] = {
            "package": f"{r['source']['package']} {r['source']['version']}",
            "licence": r["source"]["licence"],
            "benign": _short(r["benign"]),
            "benignWithoutMalformed": _short(r["benignWithoutMalformed"]),
            "unreadable": len(r["unreadable"]),
            "detectionPatterns": {k: {"detections": v["detections"], "files": len(v["files"])} for k, v in r["benignDetectionPatterns"].items()},
            "modelAlertsOnBenign": [
                {"capture": a["capture"], "alerts": a["modelAlerts"], "as": sorted({x["alertLabel"] for x in a["alerted"] if "model" in x["reason"]})}
                for a in r["benignAlarms"] if a["modelAlerts"] > 0
            ],
        }
        for a in r["attacks"]:
            found = sorted({d.split(" ")[0] for d in a["detections"] + a["detectionsWithModel"]})
            attacks.append({"source": name, "capture": a["capture"], "kind": a["kind"], "expect": a["expect"], "met": a["met"],
                            "sessions": a["sessions"], "alertsByLabel": a["alertsByLabel"], "detectors": found})
    return {"command": COMMAND, "modelVersion": results["model"], "sources": sources, "attacks": attacks}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--results", default=os.path.join(ROOT, "bench/public-captures/results.json"))
    ap.add_argument("--card", default=os.path.join(ROOT, "model/model-card.json"))
    args = ap.parse_args()
    with open(args.results) as f:
        results = json.load(f)
    with open(args.card) as f:
        card = json.load(f)
    if results["model"] != card["modelVersion"]:
        sys.exit(f"public_captures.py: {args.results} measured model {results['model']}, the card is {card['modelVersion']}: run evaluate.ts again")
    card["publicCaptures"] = summary(results)
    with open(args.card, "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    out = os.path.dirname(args.card)
    report.write_card_md(card, os.path.join(out, "MODEL_CARD.md"))
    report.write_evaluation_md(card, os.path.join(out, "EVALUATION.md"))


if __name__ == "__main__":
    main()
