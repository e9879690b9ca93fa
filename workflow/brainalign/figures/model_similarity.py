"""Model x model similarity: the matrices per metric and stimulus set, and their consistency.

``plot_similarity_matrices``: one panel per stimulus set (rows) and metric (columns), the
``similarity`` (source, target) matrix of the similarity store over every layer of every model
(lines separate models). Similarities (CKA, mutual k-NN, ...) use one colour map, distances
(Procrustes, soft matching) its reverse, so that similar is bright in both. A metric has one
colour range over every stimulus set (one colour bar per column), so its panels compare.

``plot_consistency``: for each pair of stimulus sets and each metric, every pair of
representations ``a < b`` (layers the two sets share) is a point at (value on set 1, value on
set 2); the title gives the Spearman correlation of the two strict upper triangles
(:func:`brainalign.metrics.similarity.cross_set_consistency`): does the metric rank the pairs
of layers the same way on other stimuli?
"""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from ..metrics.similarity import cross_set_consistency
from ._common import STYLE, save


def _labels(ds: xr.Dataset, side: str) -> list[str]:
    return [f"{m} {l}" for m, l in zip(ds[f"{side}_model"].values.astype(str), ds[f"{side}_layer"].values.astype(str))]


def _cmap(kind: str) -> str:
    return "viridis_r" if kind == "distance" else "viridis"


def _model_edges(ds: xr.Dataset) -> np.ndarray:
    models = ds.source_model.values.astype(str)
    return np.flatnonzero(models[1:] != models[:-1]) + 0.5


def plot_similarity_matrices(similarity: dict[str, xr.Dataset], path) -> dict:
    """Draw the matrices (module docstring) of ``{stimulus set: similarity store}`` to ``path``;
    return ``{(stimulus set, metric): matrix drawn}``."""
    sets = sorted(similarity)
    metrics = list(similarity[sets[0]].metric.values.astype(str))
    n = max(similarity[s].sizes["source"] for s in sets)
    limits = {m: (float(np.nanmin([np.nanmin(similarity[s].similarity.sel(metric=m).values) for s in sets])),
                  float(np.nanmax([np.nanmax(similarity[s].similarity.sel(metric=m).values) for s in sets])))
              for m in metrics}
    size = 1.9 + 0.17 * n
    drawn = {}
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(sets), len(metrics), squeeze=False, layout="constrained",
                                 figsize=(size * len(metrics) + 1.8, size * len(sets) + 1.4))
        for r, stimset in enumerate(sets):
            ds = similarity[stimset]
            labels = _labels(ds, "source")
            for c, metric in enumerate(metrics):
                ax = axes[r, c]
                matrix = ds.similarity.sel(metric=metric).values
                kind = str(ds.kind.sel(metric=metric).values)
                image = ax.imshow(matrix, cmap=_cmap(kind), interpolation="nearest", vmin=limits[metric][0],
                                  vmax=limits[metric][1])
                drawn[stimset, metric] = matrix
                for e in _model_edges(ds):
                    ax.axhline(e, color="white", lw=1)
                    ax.axvline(e, color="white", lw=1)
                ticks = np.arange(len(labels))
                ax.set_xticks(ticks, labels if r == len(sets) - 1 else [], rotation=90)
                ax.set_yticks(ticks, labels if c == 0 else [])
                ax.set_title(f"{metric} ({kind})\nstimulus set {stimset}")
                if r == len(sets) - 1:
                    bar = fig.colorbar(image, ax=axes[:, c], shrink=0.8, location="bottom", aspect=25)
                    bar.set_label(f"{metric} ({kind}), every set")
        fig.suptitle("Model x model similarity of every layer pair (rows: stimulus sets; columns: metrics)")
        save(fig, path)
    return drawn


def shared_matrices(a: xr.Dataset, b: xr.Dataset, metric: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The two matrices of ``metric`` restricted to the representations both stores hold, same order."""
    la, lb = _labels(a, "source"), _labels(b, "source")
    common = [x for x in la if x in lb]
    ia, ib = [la.index(x) for x in common], [lb.index(x) for x in common]
    ma = a.similarity.sel(metric=metric).values[np.ix_(ia, ia)]
    mb = b.similarity.sel(metric=metric).values[np.ix_(ib, ib)]
    return ma, mb, common


def plot_consistency(similarity: dict[str, xr.Dataset], path) -> dict:
    """Draw the consistency scatter plots (module docstring) to ``path``; return
    ``{(set 1, set 2, metric): Spearman correlation}``."""
    pairs = list(itertools.combinations(sorted(similarity), 2))
    if not pairs:
        raise ValueError("consistency across stimulus sets needs at least two similarity stores")
    metrics = list(similarity[pairs[0][0]].metric.values.astype(str))
    rho = {}
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(pairs), len(metrics), squeeze=False, layout="constrained",
                                 figsize=(3.2 * len(metrics) + 0.4, 3.3 * len(pairs) + 0.8))
        for r, (s1, s2) in enumerate(pairs):
            for c, metric in enumerate(metrics):
                ax = axes[r, c]
                ma, mb, common = shared_matrices(similarity[s1], similarity[s2], metric)
                upper = np.triu_indices(len(common), k=1)
                rho[s1, s2, metric] = cross_set_consistency(ma, mb, method="spearman")
                ax.scatter(ma[upper], mb[upper], s=14, alpha=0.7, color="tab:blue", edgecolor="none")
                lims = [min(ma[upper].min(), mb[upper].min()), max(ma[upper].max(), mb[upper].max())]
                ax.plot(lims, lims, color="0.6", lw=0.8, ls=":")
                kind = str(similarity[s1].kind.sel(metric=metric).values)
                ax.set_title(f"{metric}: Spearman ρ = {rho[s1, s2, metric]:.2f}\n({len(upper[0])} layer pairs)")
                ax.set_xlabel(f"{kind} on stimulus set {s1}")
                ax.set_ylabel(f"{kind} on stimulus set {s2}")
        fig.suptitle("Consistency of model x model similarity across stimulus sets (one point per pair of layers)")
        save(fig, path)
    return rho
