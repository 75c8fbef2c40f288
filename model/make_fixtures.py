#!/usr/bin/env python3
"""Writes the small ONNX fixtures of forecast's tests (committed; the tests themselves need no Python):

    model/.venv/bin/python model/make_fixtures.py

model/fixtures/wrong-input.onnx   a tiny tree classifier whose input has 5 features, not the feature code's count:
                                  forecast must refuse to start with it.
"""

import os

import numpy as np
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.tree import DecisionTreeClassifier

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
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
