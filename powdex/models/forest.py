"""Random-forest regression (Breiman 2001) of unit cells: fitted with scikit-learn, shipped as plain arrays, evaluated with numpy.

The trees of a fitted ``RandomForestRegressor`` are exported as one flat node
table (children, split feature and threshold, leaf values), so the shipped
file is a pickle-free npz that any numpy reads, independent of the
scikit-learn version. The evaluator walks all trees for all samples at once and
reproduces scikit-learn's predictions exactly (inputs are compared in float32,
as scikit-learn does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_TREES = 80
SUBSAMPLE = 0.1
MIN_SAMPLES_LEAF = 10
_LEAF = -1


@dataclass(frozen=True)
class Forest:
    roots: np.ndarray  # (trees,) node index of each tree's root
    children_left: np.ndarray  # (nodes,) global node index, -1 at leaves
    children_right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    value: np.ndarray  # (nodes, outputs) mean target of the node's training samples

    def tree_predictions(self, x: np.ndarray) -> np.ndarray:
        """Each tree's prediction (trees, n, outputs) for inputs (n, features)."""
        x = np.asarray(x, dtype=np.float32).astype(np.float64)
        samples = np.arange(len(x))[None, :]
        node = np.broadcast_to(self.roots[:, None], (len(self.roots), len(x))).copy()
        while True:
            inner = self.children_left[node] != _LEAF
            if not inner.any():
                return self.value[node]
            left = x[samples, self.feature[node]] <= self.threshold[node]
            step = np.where(left, self.children_left[node], self.children_right[node])
            node = np.where(inner, step, node)

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def fit_forest(
    x: np.ndarray,
    y: np.ndarray,
    seed: int,
    n_trees: int = N_TREES,
    subsample: float = SUBSAMPLE,
    min_samples_leaf: int = MIN_SAMPLES_LEAF,
) -> Forest:
    """scikit-learn's forest on bootstrap samples of ``subsample`` of the data, exported."""
    from sklearn.ensemble import RandomForestRegressor

    model = RandomForestRegressor(
        n_estimators=n_trees, max_samples=subsample, min_samples_leaf=min_samples_leaf, random_state=seed, n_jobs=1
    )
    y = np.asarray(y, dtype=float).reshape(len(x), -1)
    model.fit(np.asarray(x, dtype=np.float32), y[:, 0] if y.shape[1] == 1 else y)  # one output: scikit-learn wants 1-D
    return export_forest(model)


def export_forest(model) -> Forest:
    trees = [estimator.tree_ for estimator in model.estimators_]
    sizes = np.array([t.node_count for t in trees])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])

    def shifted(children: np.ndarray, offset: int) -> np.ndarray:
        return np.where(children == _LEAF, _LEAF, children + offset)

    return Forest(
        roots=offsets.astype(np.int64),
        children_left=np.concatenate([shifted(t.children_left, o) for t, o in zip(trees, offsets)]).astype(np.int64),
        children_right=np.concatenate([shifted(t.children_right, o) for t, o in zip(trees, offsets)]).astype(np.int64),
        feature=np.concatenate([np.maximum(t.feature, 0) for t in trees]).astype(np.int64),
        threshold=np.concatenate([t.threshold for t in trees]).astype(np.float64),
        value=np.concatenate([t.value.reshape(t.node_count, -1) for t in trees]).astype(np.float64),
    )
