"""Stage ``similarity``: model-model similarity of every pair of layers on one stimulus set.

Every layer of every model seen on the stimulus set is one representation (stimulus, unit);
for each metric in ``metrics`` (see :mod:`brainalign.metrics.similarity`), the matrix of its
values over all ordered pairs of representations is stored as ``similarity``
(metric, source, target), with the model and layer of each side as coordinates. Distances
(Procrustes, soft matching) are stored as distances: the ``kind`` coordinate says which.
With ``n_permutations`` (default 0: none), every value is also computed with the target's
stimuli shuffled (:mod:`brainalign.metrics.similarity_null`): ``null`` (metric, permutation,
source, target) and the permutation ``p_value`` (metric, source, target).
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from .. import store
from ..metrics.similarity import DISTANCES, similarity_matrix
from ..metrics.similarity_null import null_p_values, similarity_null, stimulus_permutations

log = logging.getLogger(__name__)


def load_representations(features: dict) -> tuple[dict[str, np.ndarray], list[tuple[str, str]]]:
    """``model/layer`` -> features (stimulus, unit), every model's rows in the first one's order."""
    reps, names, order = {}, [], None
    for model, path in features.items():
        for layer in store.layer_names(path):
            ds = store.open_dataset(path, group=layer)
            ids = ds.stimulus_id.values
            if order is None:
                order = ids
            elif not np.array_equal(order, ids):
                raise ValueError(f"{path}: stimuli differ from those of {next(iter(features.values()))}")
            reps[f"{model}/{layer}"] = np.asarray(ds.features.values)
            names.append((model, layer))
    return reps, names


def run(spec: dict, *, features: dict, out, seed: int) -> None:
    """Similarity matrices of every metric over every layer of ``features`` (model -> store)."""
    reps, names = load_representations(features)
    n_stimuli = next(iter(reps.values())).shape[0]
    permutations = stimulus_permutations(n_stimuli, spec.get("n_permutations", 0), seed)
    matrices, nulls = [], []
    for metric in spec["metrics"]:
        keys, matrix = similarity_matrix(reps, metric)
        assert keys == list(reps)
        matrices.append(matrix)
        if len(permutations):
            nulls.append(similarity_null(reps, metric, permutations))
        log.info("%s: %d x %d representations", metric, *matrix.shape)
    models, layers = zip(*names)
    extra = {}
    if nulls:
        extra["null"] = (("metric", "permutation", "source", "target"), np.stack(nulls))
        extra["p_value"] = (("metric", "source", "target"),
                            np.stack([null_p_values(m, n, metric) for m, n, metric in zip(matrices, nulls, spec["metrics"])]))
    ds = xr.Dataset(
        {"similarity": (("metric", "source", "target"), np.stack(matrices)), **extra},
        coords={"metric": spec["metrics"],
                "kind": ("metric", ["distance" if m in DISTANCES else "similarity" for m in spec["metrics"]]),
                "source_model": ("source", list(models)), "source_layer": ("source", list(layers)),
                "target_model": ("target", list(models)), "target_layer": ("target", list(layers))})
    store.write_dataset(out, ds, stage="similarity", params=spec, inputs=list(features.values()), seed=seed)
