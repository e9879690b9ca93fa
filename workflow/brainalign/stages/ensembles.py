"""Stage ``ensembles``: alignment among the members of each cell of one ensemble, and their test error.

A cell is one ``(snr, n_train, width)`` of the ensemble's grid; its members differ by ``seed``.
For every layer and every metric of ``metrics`` (:mod:`brainalign.metrics.similarity`: CKA,
Procrustes distance, mutual k-NN, ...), the metric is computed between the probe-set features
(stimulus, unit) of every unordered pair of members ``a < b`` of a cell. Stored:

* ``alignment`` (snr, n_train, width, layer, metric, pair), coordinates ``member_a``,
  ``member_b`` on ``pair`` and ``kind`` (similarity or distance) on ``metric``;
* ``test_error`` and ``train_loss`` (snr, n_train, width, seed).

:func:`summary_table` reduces a store to the rows of ``ensembles.csv``: per cell, layer and metric
the mean and s.d. over pairs of the alignment, and the mean and s.d. over members of the test error.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pandas as pd
import xarray as xr

from .. import store
from ..metrics.similarity import DISTANCES, similarity

log = logging.getLogger(__name__)

GRID = ("snr", "n_train", "width")


def read_members(members) -> tuple[dict, dict]:
    """``(snr, n_train, width, seed)`` -> member record (``model.member`` of its store), and -> path."""
    records, paths = {}, {}
    for path in members:
        member = store.open_dataset(path).attrs["model"]["member"]
        key = tuple(member[k] for k in (*GRID, "seed"))
        if key in records:
            raise ValueError(f"{path}: the same member as {paths[key]} (snr, n_train, width, seed = {key})")
        records[key], paths[key] = member, path
    return records, paths


def pair_alignment(reps: dict, metric: str) -> tuple[list[tuple], np.ndarray]:
    """``metric`` between the representations (stimulus, unit) of every pair ``a < b`` of members
    (``reps``: seed -> array): the pairs and their values."""
    pairs = list(itertools.combinations(sorted(reps), 2))
    return pairs, np.array([similarity(reps[a], reps[b], metric) for a, b in pairs])


def run(spec: dict, *, members, out, seed: int) -> None:
    """Align the members (their features stores, ``members``) of the ensemble ``spec``."""
    records, paths = read_members(members)
    axes = {k: sorted({key[i] for key in records}) for i, k in enumerate((*GRID, "seed"))}
    missing = [key for key in itertools.product(*axes.values()) if key not in records]
    if missing:
        raise ValueError(f"ensemble {spec['name']!r}: no member store for (snr, n_train, width, seed) {missing[0]}")
    layers = store.layer_names(next(iter(paths.values())))
    pairs = list(itertools.combinations(axes["seed"], 2))
    if not pairs:
        raise ValueError(f"ensemble key 'seeds' of {spec['name']!r}: alignment needs at least two members")
    metrics = spec["metrics"]
    values = np.full([len(axes[k]) for k in GRID] + [len(layers), len(metrics), len(pairs)], np.nan)
    for cell in itertools.product(*(enumerate(axes[k]) for k in GRID)):
        index, key = zip(*cell)
        for li, layer in enumerate(layers):
            reps = {s: np.asarray(store.open_dataset(paths[(*key, s)], group=layer).features.values, dtype=float)
                    for s in axes["seed"]}
            for mi, metric in enumerate(metrics):
                values[(*index, li, mi)] = pair_alignment(reps, metric)[1]
        log.info("cell snr=%g n_train=%d width=%d: %s", *key, values[index].mean(axis=-1).round(3).tolist())
    per_member = {name: (("snr", "n_train", "width", "seed"),
                         np.array([records[key][name] for key in itertools.product(*axes.values())],
                                  dtype=float).reshape([len(a) for a in axes.values()]))
                  for name in ("test_error", "train_loss")}
    ds = xr.Dataset(
        {"alignment": (("snr", "n_train", "width", "layer", "metric", "pair"), values), **per_member},
        coords={**{k: v for k, v in axes.items()}, "layer": layers, "metric": metrics,
                "kind": ("metric", ["distance" if m in DISTANCES else "similarity" for m in metrics]),
                "member_a": ("pair", [a for a, _ in pairs]), "member_b": ("pair", [b for _, b in pairs])},
        attrs={"ensemble": spec["name"], "architecture": spec["architecture"],
               "task": next(iter(records.values()))["task"]})
    store.write_dataset(out, ds, stage="ensembles", params=spec, inputs=list(members), seed=seed)


def summary_table(path) -> pd.DataFrame:
    """The rows of ``ensembles.csv`` for one ensemble store (module docstring)."""
    ds = store.open_dataset(path)
    align = ds.alignment.load()
    table = xr.Dataset({"alignment_mean": align.mean("pair"), "alignment_sd": align.std("pair", ddof=1)})
    table = table.to_dataframe().reset_index()
    errors = xr.Dataset({"test_error_mean": ds.test_error.mean("seed"),
                         "test_error_sd": ds.test_error.std("seed", ddof=1)}).to_dataframe().reset_index()
    table = table.merge(errors, on=list(GRID))
    table.insert(0, "architecture", ds.attrs["architecture"])
    table.insert(0, "ensemble", ds.attrs["ensemble"])
    table["n_members"] = ds.sizes["seed"]
    return table[["ensemble", "architecture", "layer", "metric", "kind", *GRID, "n_members", "alignment_mean",
                  "alignment_sd", "test_error_mean", "test_error_sd"]]
