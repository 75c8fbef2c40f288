#!/usr/bin/env python3
"""Writes the small ONNX fixtures of the tests (committed; the tests themselves need no Python):

    model/.venv/bin/python model/make_fixtures.py

model/fixtures/wrong-input.onnx      a tiny tree classifier whose input has 5 features, not the feature code's count:
                                     forecast must refuse to start with it.
model/fixtures/alert-rules.onnx      a hand-written decision list over five flow features, with its card
model/fixtures/alert-rules-card.json (alert-rules-card.json): the verdicts of test/integration/alerts.test.ts, which
                                     are then the same whichever model model/ ships. Its card is of feature version 2
                                     (the first columns of today's vector, lib/src/features/features.ts), so it stays
                                     servable as long as OLDEST_PREFIX_FEATURE_VERSION is 2; when that changes, rerun
                                     this script.
"""

import hashlib
import json
import os
import subprocess

import numpy as np
import onnx
from onnx import TensorProto, helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.tree import DecisionTreeClassifier

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
out = os.path.join(here, "fixtures")
os.makedirs(out, exist_ok=True)

rng = np.random.RandomState(0)
x = rng.rand(64, 5).astype(np.float32)
y = (x[:, 0] > 0.5).astype(int)
tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, y)
onx = convert_sklearn(
    tree,
    initial_types=[("features", FloatTensorType([None, 5]))],
    options={id(tree): {"zipmap": False}},
    target_opset={"": 17, "ai.onnx.ml": 3},
)
path = os.path.join(out, "wrong-input.onnx")
with open(path, "wb") as f:
    f.write(onx.SerializeToString())
print(f"wrote {path}")

# The alert-rules model. Its feature names: version 2's, the columns before the first content feature.
names_js = (
    "Promise.all([import('@fleetcap/lib/features/features'), import('@fleetcap/lib/features/content')]).then(([f, c]) =>"
    " console.log(JSON.stringify(f.FEATURE_NAMES.slice(0, f.FEATURE_NAMES.indexOf(c.CONTENT_FEATURE_NAMES[0])))))"
)
names = json.loads(
    subprocess.run(
        ["node", "--import", "tsx", "--conditions=fleetcap-source", "-e", names_js],
        cwd=root, check=True, capture_output=True, text=True,
    ).stdout
)
classes = ["benign", "bruteforce", "portscan", "slowloris", "sqli", "synflood"]
col = {n: names.index(n) for n in ["rst_bwd", "syn_ack_bwd", "syn_only_fwd", "payload_packets_bwd", "small_fwd_payload_packets"]}
# Leaves: the probability of each class, in the order of classes.
LEAVES = {
    "synflood": [0.05, 0.0, 0.0, 0.0, 0.0, 0.95],  # the server reset the connection
    "portscan": [0.05, 0.0, 0.95, 0.0, 0.0, 0.0],  # two or more SYNs and no answer
    "benign": [0.9, 0.02, 0.02, 0.02, 0.02, 0.02],
    "slowloris": [0.1, 0.0, 0.0, 0.9, 0.0, 0.0],  # handshake done, many small client packets, no server payload
    "unknown": [0.1, 0.15, 0.15, 0.28, 0.16, 0.16],  # handshake done, nothing said: top probability 0.28
}
# (node id, feature, threshold, node if <=, node if >) or (node id, leaf)
# (onnxruntime wants the node ids of a tree to be 0..n-1.)
NODES = [
    (0, "rst_bwd", 0.5, 1, 5),
    (1, "syn_ack_bwd", 0.5, 2, 3),
    (2, "syn_only_fwd", 1.5, 6, 7),
    (3, "payload_packets_bwd", 0.5, 4, 8),
    (4, "small_fwd_payload_packets", 3.5, 9, 10),
    (5, "synflood"),
    (6, "benign"),
    (7, "portscan"),
    (8, "benign"),
    (9, "unknown"),
    (10, "slowloris"),
]
attrs = {k: [] for k in ["nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values", "nodes_truenodeids", "nodes_falsenodeids"]}
class_nodeids, class_ids, class_weights = [], [], []
for node in NODES:
    attrs["nodes_nodeids"].append(node[0])
    if len(node) == 5:
        _, feature, threshold, yes, no = node
        attrs["nodes_featureids"].append(col[feature])
        attrs["nodes_modes"].append("BRANCH_LEQ")
        attrs["nodes_values"].append(threshold)
        attrs["nodes_truenodeids"].append(yes)
        attrs["nodes_falsenodeids"].append(no)
    else:
        attrs["nodes_featureids"].append(0)
        attrs["nodes_modes"].append("LEAF")
        attrs["nodes_values"].append(0.0)
        attrs["nodes_truenodeids"].append(0)
        attrs["nodes_falsenodeids"].append(0)
        for i, p in enumerate(LEAVES[node[1]]):
            class_nodeids.append(node[0])
            class_ids.append(i)
            class_weights.append(p)
graph = helper.make_graph(
    [
        helper.make_node(
            "TreeEnsembleClassifier", ["features"], ["label", "probabilities"], domain="ai.onnx.ml",
            classlabels_int64s=list(range(len(classes))), post_transform="NONE",
            nodes_treeids=[0] * len(NODES), class_treeids=[0] * len(class_nodeids),
            class_nodeids=class_nodeids, class_ids=class_ids, class_weights=class_weights, **attrs,
        )
    ],
    "alert_rules",
    [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, len(names)])],
    [
        helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, len(classes)]),
    ],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
model.ir_version = 8
onnx.checker.check_model(model)
blob = model.SerializeToString()
# Each leaf reached as the decision list says, with its probabilities.
import onnxruntime as ort  # noqa: E402

probe = np.zeros((5, len(names)), dtype=np.float32)
probe[0, col["rst_bwd"]] = 1
probe[1, col["syn_only_fwd"]] = 6
probe[2:, col["syn_ack_bwd"]] = 1
probe[2, col["payload_packets_bwd"]] = 8
probe[3, col["small_fwd_payload_packets"]] = 10
_, proba = ort.InferenceSession(blob, providers=["CPUExecutionProvider"]).run(None, {"features": probe})
for row, leaf in zip(proba, ["synflood", "portscan", "benign", "slowloris", "unknown"]):
    assert np.allclose(row, LEAVES[leaf]), (leaf, row)
path = os.path.join(out, "alert-rules.onnx")
with open(path, "wb") as f:
    f.write(blob)
card = {
    "name": "fleetcap-test-alert-rules",
    "modelVersion": "test-alert-rules-1",
    "placeholder": True,
    "placeholderReason": "a test fixture: a hand-written decision list (model/make_fixtures.py), not a trained model",
    "modelFile": "alert-rules.onnx",
    "modelSha256": hashlib.sha256(blob).hexdigest(),
    "classes": classes,
    "benignClass": "benign",
    "onnx": {"input": {"name": "features", "type": "float32", "shape": [None, len(names)]}},
    "features": {"version": 2, "names": names, "maxPackets": 24, "windowUs": 5000000, "code": "lib/src/features/features.ts"},
    "rules": {"nodes": [list(n) for n in NODES], "leaves": LEAVES},
}
with open(os.path.join(out, "alert-rules-card.json"), "w") as f:
    json.dump(card, f, indent=2)
    f.write("\n")
print(f"wrote {path} and alert-rules-card.json")
