"""RDMs of each ROI and of each model's best layer for it, stimuli ordered by category.

Rows are ROIs; the first column is the ROI's RDM averaged over subjects (each subject's RDM of
stimulus-averaged betas, from the RSA stores), the next ones the RDM of the layer of each model
that scores best on that ROI (mean RSA score over subjects), titled with that score. Every RDM is
shown rank-transformed, as the percentile of each dissimilarity among the RDM's pairs
(0 = most similar pair, 100 = most dissimilar), so RDMs on different scales share one colour
scale; the comparator (Spearman) sees exactly these ranks.

Stimuli are ordered by the categorical attributes of the stimulus set (the string coordinates
on ``stimulus`` other than ``stimulus_id`` with 2 or more values shared by several stimuli), the
attribute that changes least often along the set's order first (for ``shapes``: shape, then
colour, position, size), each attribute's values in order of first appearance; lines separate the values of the first attribute, whose names
label the axes. An image folder's ``category`` (its subfolders, or a table column) and any other
table column are such attributes. A set without them keeps its order and names its stimuli on
the axes by id (Haxby's 8 categories). At most :data:`MAX_LABELS` names fit beside a panel: with
more groups (or stimuli), every k-th is named, ``k = ceil(count / MAX_LABELS)``. ROIs that RSA
left out (the stores' ``skipped_rois``) are named, with the reason, under the title.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import rankdata

from ..results import square_rdms
from ._common import STYLE, save


MAX_LABELS = 40  # tick labels that fit beside a panel


def category_order(stimuli: xr.Dataset) -> tuple[np.ndarray, list[str]]:
    """Stimulus ids sorted by the set's categorical attributes, and those attributes' names."""
    ids = stimuli.stimulus_id.values.astype(str)
    attrs = [name for name, c in stimuli.coords.items()
             if c.dims == ("stimulus",) and name != "stimulus_id" and c.dtype.kind in "UOT"
             and 1 < len(np.unique(c.values.astype(str))) < len(ids)]
    if not attrs:
        return ids, []
    # the set's own nesting first: the attribute whose value changes least often along the stored order
    attrs.sort(key=lambda a: int((stimuli[a].values[1:] != stimuli[a].values[:-1]).sum()))
    table = pd.DataFrame({a: pd.Categorical(stimuli[a].values.astype(str),
                                            pd.unique(stimuli[a].values.astype(str))) for a in attrs})
    return ids[table.sort_values(attrs, kind="stable").index.to_numpy()], attrs


def percentile(rdm: np.ndarray) -> np.ndarray:
    """Each off-diagonal entry as its percentile rank (0-100) among the pairs; diagonal 0."""
    n = rdm.shape[0]
    i, j = np.triu_indices(n, k=1)
    ranks = rankdata(rdm[i, j])
    out = np.zeros_like(rdm, dtype=np.float64)
    out[i, j] = out[j, i] = 100.0 * (ranks - 1) / max(len(ranks) - 1, 1)
    return out


def rdm_panels(rsa: list[xr.Dataset], order) -> tuple[dict, dict]:
    """``{roi: mean brain RDM}`` and ``{roi: {model: (layer, mean score, RDM)}}``, stimuli in ``order``.

    ``rsa`` holds the RSA stores of one dataset: every subject x model.
    """
    brain, scores, model_rdms = {}, {}, {}
    for ds in rsa:
        subject, model = ds.attrs["subject"], ds.attrs["model"]
        if subject not in brain:
            brain[subject] = square_rdms(ds, "brain_rdm").sel(stimulus_id=order, other=order)
        if model not in model_rdms:
            model_rdms[model] = square_rdms(ds, "model_rdm").sel(stimulus_id=order, other=order)
        scores.setdefault(model, []).append(ds.score)
    mean_brain = xr.concat(list(brain.values()), "subject").mean("subject")
    mean_scores = {model: xr.concat(scores[model], "subject").mean("subject").load() for model in sorted(scores)}
    best = {}
    for roi in mean_brain.roi.values.astype(str):
        best[roi] = {}
        for model, mean in mean_scores.items():
            mean = mean.sel(roi=roi)
            layer = str(mean.layer.values[int(np.argmax(mean.values))])
            best[roi][model] = (layer, float(mean.max()), model_rdms[model].sel(layer=layer).values)
    return {roi: mean_brain.sel(roi=roi).values for roi in best}, best


def axis_labels(stimuli: xr.Dataset, order, attrs) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Where lines separate groups, and the tick positions and names of the axes (module docstring)."""
    if not attrs:
        step = math.ceil(len(order) / MAX_LABELS)
        return np.array([]), np.arange(0, len(order), step, dtype=float), [str(s) for s in order[::step]]
    labels = stimuli.set_xindex("stimulus_id").sel(stimulus_id=order)[attrs[0]].values.astype(str)
    edges = np.flatnonzero(labels[1:] != labels[:-1]) + 0.5
    bounds = np.r_[-0.5, edges, len(labels) - 0.5]
    centres, names = (bounds[:-1] + bounds[1:]) / 2, list(labels[np.r_[0, (edges + 0.5).astype(int)]])
    step = math.ceil(len(names) / MAX_LABELS)
    return edges if len(edges) < 4 * MAX_LABELS else np.array([]), centres[::step], names[::step]


def _category_axes(ax, stimuli: xr.Dataset, order, attrs, first_col: bool, last_row: bool) -> None:
    edges, centres, names = axis_labels(stimuli, order, attrs)
    for e in edges:
        ax.axhline(e, color="white", lw=1.2)
        ax.axvline(e, color="white", lw=1.2)
    ax.set_xticks(centres, names if last_row else [], rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(centres, names if first_col else [])
    ax.tick_params(length=0)


def plot_rdms(rsa: list[xr.Dataset], stimuli: xr.Dataset, path, *, dataset: str = "") -> dict:
    """Draw the figure (module docstring) to ``path``; return ``{(roi, column): matrix drawn}``
    (before the rank transform) where column is ``"brain"`` or a model name."""
    order, attrs = category_order(stimuli)
    brain, best = rdm_panels(rsa, order)
    models = sorted(next(iter(best.values())))
    n_subjects = len({ds.attrs["subject"] for ds in rsa})
    comparator = rsa[0].attrs["comparator"]
    drawn = {}
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(brain), 1 + len(models), squeeze=False, layout="constrained",
                                 figsize=(2.5 * (1 + len(models)) + 1.2, 2.55 * len(brain) + 1.0))
        for r, roi in enumerate(brain):
            panels = [("brain", f"ROI {roi}\n(mean of {n_subjects} subject{'s' * (n_subjects != 1)})",
                       brain[roi])]
            panels += [(m, f"{m} {best[roi][m][0]}\n(mean {comparator} = {best[roi][m][1]:.2f})", best[roi][m][2])
                       for m in models]
            for c, (column, title, matrix) in enumerate(panels):
                ax = axes[r, c]
                image = ax.imshow(percentile(matrix), cmap="viridis", vmin=0, vmax=100, interpolation="nearest")
                drawn[roi, column] = matrix
                ax.set_title(title)
                _category_axes(ax, stimuli, order, attrs, c == 0, r == len(brain) - 1)
        bar = fig.colorbar(image, ax=axes, shrink=0.6, aspect=30)
        bar.set_label("dissimilarity (percentile of the RDM's pairs)")
        grouping = f"stimuli grouped by {', then '.join(attrs)}" if attrs else "stimuli in set order"
        skipped = {roi: why for ds in rsa for roi, why in ds.attrs.get("skipped_rois", {}).items()}
        left_out = "".join(f"\nROI {roi} skipped by RSA: {why}" for roi, why in sorted(skipped.items()))
        fig.suptitle(f"{dataset + ': ' if dataset else ''}RDMs of each ROI and of each model's best layer "
                     f"for it ({grouping}){left_out}")
        save(fig, path)
    return drawn
