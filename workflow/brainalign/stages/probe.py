"""Stage ``probe``: linear-probe and n-shot accuracy of every layer of one model on one labelled set.

The labels are a column of the stimulus table (``spec["label"]``: a coordinate on ``stimulus`` of
the stimuli store, e.g. ``shape`` of a ``shapes`` set), matched to the features by ``stimulus_id``.
For each layer (:mod:`brainalign.metrics.probe`):

* ``accuracy``: cross-validated accuracy over ``outer_folds`` stratified folds, ``C`` chosen from
  ``Cs`` by ``inner_folds``-fold inner cross-validation; chance ``1 / n_classes`` (balanced sets);
* ``fewshot`` (shot, draw): the test accuracy of each of ``n_draws`` random n-shot draws for each
  ``n`` in ``shots`` (penalty ``fewshot_C``), summarised by the mean ``fewshot_mean`` and the
  central ``ci`` percentile interval over draws ``fewshot_low``, ``fewshot_high`` (shot).

Every random step follows from ``seed``: outer folds ``seed``, n-shot draws of shot ``n``
``seed + n``. The store has one group per layer (``fold_accuracy``, ``C``, ``inner_accuracy``
(fold, C_grid), ``predicted`` (stimulus), ``fewshot`` (shot, draw)) and at the root the summaries
over layers (``accuracy`` (layer), ``fewshot_mean``/``_low``/``_high`` (layer, shot)) with the
labels (``label`` (stimulus)); root attributes ``dataset`` (the stimulus set), ``model``,
``label_column``, ``chance``, ``n_classes``.
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from .. import store
from ..config import PROBE_DEFAULTS
from ..errors import InputError
from ..metrics.probe import cv_accuracy, nshot_accuracy

log = logging.getLogger(__name__)


def stimulus_labels(stimuli, column: str, ids: np.ndarray) -> np.ndarray:
    """The ``column`` of the stimulus table of the store ``stimuli`` for the stimuli ``ids``, as str."""
    ds = store.open_dataset(stimuli)
    if column not in ds.coords or ds.coords[column].dims != ("stimulus",):
        have = sorted(n for n, c in ds.coords.items() if c.dims == ("stimulus",) and n != "stimulus_id")
        raise InputError(f"probe: stimulus store {stimuli} has no label column {column!r} (its columns: {have}); "
                         f"set probe.labels to one of them")
    table = dict(zip(ds.stimulus_id.values.astype(str), ds.coords[column].values.astype(str)))
    missing = [i for i in ids if i not in table]
    if missing:
        raise InputError(f"probe: stimulus store {stimuli} lacks {len(missing)} stimuli of the features, "
                         f"e.g. {missing[:3]}")
    return np.array([table[i] for i in ids])


def probe_layer(X: np.ndarray, labels: np.ndarray, spec: dict, seed: int) -> tuple[xr.Dataset, dict]:
    """One layer's group (module docstring) and its summaries."""
    cv = cv_accuracy(X, labels, Cs=spec["Cs"], outer=spec["outer_folds"], inner=spec["inner_folds"], seed=seed,
                     standardize=spec["standardize"])
    shots = [int(n) for n in spec["shots"]]
    fewshot = np.stack([nshot_accuracy(X, labels, n=n, n_draws=spec["n_draws"], C=spec["fewshot_C"], seed=seed + n,
                                       standardize=spec["standardize"]) for n in shots])
    tail = 100 * (1 - spec["ci"]) / 2
    group = xr.Dataset(
        {"fold_accuracy": ("fold", cv["fold_accuracy"]), "C": ("fold", cv["C"]),
         "inner_accuracy": (("fold", "C_grid"), cv["inner_accuracy"]),
         "predicted": ("stimulus", cv["predicted"].astype(str)), "fewshot": (("shot", "draw"), fewshot)},
        coords={"C_grid": sorted(float(c) for c in spec["Cs"]), "shot": shots})
    summary = {"accuracy": cv["accuracy"], "fewshot_mean": fewshot.mean(1),
               "fewshot_low": np.percentile(fewshot, tail, axis=1),
               "fewshot_high": np.percentile(fewshot, 100 - tail, axis=1)}
    return group, summary


def run(spec: dict, *, features, stimuli, out, seed: int) -> None:
    """Probe every layer of the features store ``features`` for the labels of ``stimuli``; write ``out``."""
    spec = {**PROBE_DEFAULTS, **spec}
    layers = store.layer_names(features)
    groups, summaries, labels, ids = {}, [], None, None
    for layer in layers:
        ds = store.open_dataset(features, group=layer)
        if ids is None:
            ids = ds.stimulus_id.values.astype(str)
            labels = stimulus_labels(stimuli, spec["label"], ids)
        X = np.asarray(ds.features.values, dtype=np.float64)
        if not np.isfinite(X).all():
            raise InputError(f"probe: features store {features}, layer {layer!r} holds NaN or infinite values")
        groups[layer], summary = probe_layer(X, labels, spec, seed)
        summaries.append(summary)
        log.info("%s %s: accuracy %.3f; few-shot %s", spec.get("model", ""), layer, summary["accuracy"],
                 ", ".join(f"{n}: {m:.3f}" for n, m in zip(spec["shots"], summary["fewshot_mean"])))
    n_classes = len(np.unique(labels))
    root = xr.Dataset(
        {"accuracy": ("layer", np.array([s["accuracy"] for s in summaries])),
         **{key: (("layer", "shot"), np.stack([s[key] for s in summaries]))
            for key in ("fewshot_mean", "fewshot_low", "fewshot_high")},
         "label": ("stimulus", labels)},
        coords={"layer": layers, "shot": [int(n) for n in spec["shots"]], "stimulus_id": ("stimulus", ids)},
        attrs={"dataset": spec.get("dataset", ""), "model": spec.get("model", ""), "label_column": spec["label"],
               "chance": 1.0 / n_classes, "n_classes": n_classes,
               "cv": f"{spec['outer_folds']} stratified outer folds, C by {spec['inner_folds']}-fold inner CV",
               "fewshot_interval": f"central {spec['ci']:g} percentile interval over {spec['n_draws']} draws"})
    store.write_tree(out, groups, stage="probe", params=spec, inputs=[features, stimuli], seed=seed, root=root)
