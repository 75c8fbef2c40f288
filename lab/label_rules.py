"""The labels.json rule of lab/README.md "Labels": a session is the class of the first rule whose endpoints match its
two addresses (either direction); "any" matches every session. The project's own reading is `fleetcap dataset export`
(TypeScript); this is the one Python reading, for lab/summarize.py and model/system_eval.py."""

from __future__ import annotations


def rule_class(rules: list[dict], a: str, b: str) -> str | None:
    """The class of the first rule matching addresses a and b, or None when no rule does."""
    for r in rules:
        ends = r["endpoints"]
        if ends == "any":
            return r["class"]
        x, y = set(ends[0]), set(ends[1])
        if (a in x and b in y) or (b in x and a in y):
            return r["class"]
    return None
