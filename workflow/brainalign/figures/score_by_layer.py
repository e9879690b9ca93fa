"""Score by layer: one panel per ROI (columns) and method (rows), one line per model.

From the summary store ``scores.zarr`` (:mod:`brainalign.stages.summarize`), per dataset x
method x metric x ROI x model x layer, over the ``S`` subjects:

* line: ``mean_s score_s``;
* band: the 2.5-97.5 percentile interval of ``mean_s score_bootstrap_s[b]`` over samples ``b`` (voxels
  resampled for encoding, stimuli for RSA; each subject's ``b``-th sample averaged);
* noise ceiling: ``mean_s ceiling_s``, a dashed line; for RSA a grey band from the lower
  (leave one subject out) to the upper ceiling.

A model with a single layer is a point with its interval as an error bar (a band needs two
layers). Panels of the same metric share one y range, so their heights compare. A panel with no
score says why (an ROI that RSA left out names the reason the RSA stage recorded, from the
``skipped_rois`` attribute of ``scores.zarr``).

The x axis is the layer's relative depth among the model's extracted layers,
``index / (n_layers - 1)``, so models of different depths share it; the panel's title names
its best model and layer, and the runner-up when their difference's interval over subjects and
stimuli (or voxels) contains 0 (``vs_best_low <= 0``: "indistinguishable"). R² is in the summary, not in this figure (Pearson r is drawn).
"""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ._common import STYLE, model_colours, save

GROUP = ["dataset", "method", "metric", "roi", "model", "layer_index", "layer"]
Y_LABELS = {"pearson_r": "Pearson r, held-out runs\n(mean over voxels)",
            "spearman": "Spearman ρ, ROI RDM vs layer RDM"}


def layer_curves(scores: xr.Dataset) -> pd.DataFrame:
    """One row per dataset x method x metric x ROI x model x layer: ``score`` (mean over subjects),
    ``ci_low``/``ci_high`` (bootstrap of that mean), ``ceiling``/``ceiling_low`` (mean over
    subjects), ``depth`` (relative layer depth) and ``n_subjects``. R² entries are left out."""
    keep = scores.metric.values != "r2"
    table = scores.drop_vars("score_bootstrap").isel(entry=keep).to_dataframe().reset_index(drop=True)
    boots = scores.score_bootstrap.values[keep]
    rows = []
    for key, g in table.groupby(GROUP, sort=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # samples past an entry's own count are NaN
            mean_boot = np.nanmean(boots[g.index], axis=0)
            low, high = np.nanpercentile(mean_boot, [2.5, 97.5])
            ceiling, ceiling_low = np.nanmean(g.ceiling), np.nanmean(g.ceiling_low)
        rows.append(dict(zip(GROUP, key), score=g.score.mean(), ci_low=low, ci_high=high, ceiling=ceiling,
                         ceiling_low=ceiling_low, n_subjects=g.subject.nunique(),
                         vs_best_low=g.vs_best_low.iloc[0] if "vs_best_low" in g else np.nan))
    curves = pd.DataFrame(rows)
    n_layers = curves.groupby(["dataset", "model"]).layer_index.transform("max")
    curves["depth"] = curves.layer_index / n_layers.clip(lower=1)
    return curves


def best_title(part: pd.DataFrame) -> str:
    """"best: model layer (score)", and "indistinguishable from" the runner-up when the interval of
    their difference (``vs_best_low`` of :mod:`brainalign.stages.inference`) reaches 0."""
    ranked = part.dropna(subset=["score"]).sort_values("score", ascending=False)
    best = ranked.iloc[0]
    title = f"best: {best.model} {best.layer} ({best.score:.2f})"
    if len(ranked) > 1 and not ranked.iloc[1].vs_best_low > 0:
        title = f"{title}\nindistinguishable from {ranked.iloc[1].model} {ranked.iloc[1].layer}"
    return title


def _ceiling(ax, part: pd.DataFrame) -> None:
    """Draw the ROI's noise ceiling (the same for every model): line, and band for RSA."""
    upper, lower = part.ceiling.mean(), part.ceiling_low.mean()
    if np.isfinite(lower):
        ax.axhspan(lower, upper, color="0.85", zorder=0)
    if np.isfinite(upper):
        ax.axhline(upper, color="0.35", ls="--", lw=1, zorder=1)


def empty_note(ax, text: str) -> None:
    """Leave ``ax`` without axes, with ``text`` (why it is empty) in its middle."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes, fontsize=9,
            color="0.35")


def _why_empty(scores: xr.Dataset, dataset: str, method: str, roi: str) -> str:
    reason = scores.attrs.get("skipped_rois", {}).get(dataset, {}).get(roi)
    if method == "rsa" and reason:
        return f"ROI {roi}, rsa:\nROI skipped by RSA:\n{reason}"
    return f"ROI {roi}, {method}:\nno finite score\n(every subject's score is NaN)"


def _model_curve(ax, g: pd.DataFrame, colour) -> None:
    """One model's scores by depth with its interval: a band, or an error bar for a single layer."""
    if len(g) == 1:
        err = np.abs(np.array([[g.score.iloc[0] - g.ci_low.iloc[0]], [g.ci_high.iloc[0] - g.score.iloc[0]]]))
        ax.errorbar(g.depth, g.score, yerr=np.nan_to_num(err), fmt="o", color=colour, ms=4, capsize=4, lw=1.5)
        return
    ax.fill_between(g.depth, g.ci_low, g.ci_high, color=colour, alpha=0.2, lw=0)
    ax.plot(g.depth, g.score, "o-", color=colour, ms=4, lw=1.5)


def share_y_by_metric(axes_by_metric: dict) -> None:
    """One y range per metric: the union of its panels' ranges."""
    for axes in axes_by_metric.values():
        low = min(ax.get_ylim()[0] for ax in axes)
        high = max(ax.get_ylim()[1] for ax in axes)
        for ax in axes:
            ax.set_ylim(low, high)


def _legend_columns(handles, width: float) -> int:
    """Legend columns that fit ``width`` inches: one row if every entry fits (an entry takes
    about 0.5 in + 0.07 in per character), else as many columns of the widest entry as fit."""
    sizes = [0.5 + 0.07 * len(h.get_label()) for h in handles]
    if sum(sizes) <= width:
        return len(handles)
    return max(1, int(width // max(sizes)))


def plot_score_by_layer(scores: xr.Dataset, path) -> pd.DataFrame:
    """Draw the figure (module docstring) to ``path``; return the curves drawn (:func:`layer_curves`)."""
    curves = layer_curves(scores)
    rows = list(curves[["dataset", "method", "metric"]].drop_duplicates().itertuples(index=False))
    rois = {d: sorted(curves.roi[curves.dataset == d].unique()) for d in curves.dataset.unique()}
    n_cols = max(len(r) for r in rois.values())
    colours = model_colours(curves.model.unique())
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(rows), n_cols, figsize=(3.6 * n_cols + 0.6, 3.0 * len(rows) + 0.9),
                                 squeeze=False, sharex=True, layout="constrained")
        by_metric = {}
        for r, (dataset, method, metric) in enumerate(rows):
            for ax in axes[r, len(rois[dataset]):]:  # datasets with fewer ROIs leave cells empty
                ax.set_axis_off()
            for c, roi in enumerate(rois[dataset]):
                ax = axes[r, c]
                ax.tick_params(labelbottom=True)
                part = curves[(curves.dataset == dataset) & (curves.method == method) & (curves.roi == roi)]
                if not np.isfinite(part.score).any():  # e.g. an ROI too small for RSA
                    empty_note(ax, _why_empty(scores, dataset, method, roi))
                    continue
                _ceiling(ax, part)
                for model, g in part.groupby("model"):
                    _model_curve(ax, g.sort_values("layer_index"), colours[model])
                ax.axhline(0, color="0.6", lw=0.7)
                where = f"{dataset}: " if len(set(d for d, _, _ in rows)) > 1 else ""
                ax.set_title(f"{where}ROI {roi}, {method}\n{best_title(part)}")
                if c == 0:
                    ax.set_ylabel(Y_LABELS.get(metric, f"{metric} score"))
                if r == len(rows) - 1:
                    ax.set_xlabel("relative layer depth\n(0 = first extracted, 1 = last)")
                ax.set_xlim(-0.08, 1.08)
                ax.margins(y=0.12)
                by_metric.setdefault(metric, []).append(ax)
        share_y_by_metric(by_metric)
        handles = [Line2D([], [], color=colours[m], marker="o", ms=4, label=m) for m in colours]
        handles += [Patch(color="0.5", alpha=0.3, label="95 % bootstrap CI of the mean (bar: one-layer model)"),
                    Line2D([], [], color="0.35", ls="--", label="noise ceiling (RSA: upper)"),
                    Patch(color="0.85", label="RSA: lower to upper ceiling")]
        fig.legend(handles=handles, loc="outside lower center", ncol=_legend_columns(handles, fig.get_figwidth()),
                   frameon=False)
        n = int(curves.n_subjects.max())
        fig.suptitle(f"Alignment score of every layer, mean over {n} subject{'s' * (n != 1)}")
        save(fig, path)
    return curves
