"""Train / validation / test splits of the dataset export: by lab run and by capture file, never by session.

A lab run is one scenario's capture (attack and background benign alike); a real capture file is one recording of
someone else's network. Sessions of one run or one file share hosts, tools and timing, so a split by session would
let the model recognise the recording rather than the behaviour (Arp et al., "Dos and Don'ts of Machine Learning in
Computer Security": sampling bias / data snooping). Every session of a run or a file is in exactly one split.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

SPLIT_SEED = 20261124
LAB = "lab"
# Lab runs: per scenario, the runs are shuffled with SPLIT_SEED; this share (at least one run when a scenario has
# two or more) is test, the next share (at least one when three or more) validation, the rest training.
LAB_TEST_FRACTION = 0.3
LAB_VALIDATION_FRACTION = 0.2
# Real capture files: the split of a file is fixed by a hash of "<source>/<path>", so adding or removing other files
# never moves it, and nobody picks which file lands where.
CAPTURE_TEST_FRACTION = 0.30
CAPTURE_VALIDATION_FRACTION = 0.25
SPLITS = ("train", "validation", "test")


def capture_split(key: str) -> str:
    """The split of the real capture file "<source>/<path>": the first 32 bits of its SHA-256 as a fraction."""
    u = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) / 2**32
    if u < CAPTURE_TEST_FRACTION:
        return "test"
    if u < CAPTURE_TEST_FRACTION + CAPTURE_VALIDATION_FRACTION:
        return "validation"
    return "train"


# Runs of the lab before it had WAN links and most of its services (48 runs at near-zero RTT, 2026-11) are kept as
# data under the name "v1-<scenario>-<seed>"; each lab generation is split on its own, so that validation and test
# hold runs of the broadened lab for every class and not only old ones.
OLD_LAB_PREFIX = "v1-"


def lab_generation(run_id: str) -> str:
    return "v1" if run_id.startswith(OLD_LAB_PREFIX) else "v2"


def lab_splits(runs: pd.DataFrame) -> dict[str, str]:
    """run_id -> split for the lab runs (columns run_id, scenario), per scenario and lab generation."""
    rng = np.random.RandomState(SPLIT_SEED)
    out: dict[str, str] = {}
    groups = runs.scenario + "/" + runs.run_id.map(lab_generation)
    for group in sorted(groups.unique()):
        ids = sorted(runs[groups == group].run_id)
        rng.shuffle(ids)
        n = len(ids)
        n_test = 0 if n < 2 else max(1, round(LAB_TEST_FRACTION * n))
        n_val = 0 if n - n_test < 2 else max(1, round(LAB_VALIDATION_FRACTION * n))
        for i, run_id in enumerate(ids):
            out[run_id] = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
    return out


def assign_splits(df: pd.DataFrame, test_only_sources: tuple[str, ...] = (), test_only_groups: frozenset[str] = frozenset()) -> np.ndarray:
    """The split of every row. Rows of a source in test_only_sources, or of a run/file in test_only_groups, are test
    and nothing of them is trained or validated on (the cross-source and held-out-attack experiments)."""
    groups = df[["run_id", "scenario", "source"]].drop_duplicates("run_id")
    lab = lab_splits(groups[groups.source == LAB])
    split_of = {}
    for run_id, source in zip(groups.run_id, groups.source):
        if source in test_only_sources or run_id in test_only_groups:
            split_of[run_id] = "test"
        else:
            split_of[run_id] = lab[run_id] if source == LAB else capture_split(run_id)
    return df.run_id.map(split_of).to_numpy()
