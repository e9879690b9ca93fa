"""Noise curves of one sweep: score per layer, and recovery rate, against the swept SNR.

From ``sweep.csv`` (:mod:`brainalign.stages.sweep`), the rows of one sweep: one panel per method
(rows: encoding Pearson r, the RSA comparator) and ROI (columns), one line per model x layer,
``score`` (mean over subjects) against the first swept key (log axis; a ``noise`` sweep's
noise-free point, ``inf``, drawn at twice the largest SNR and labelled ∞) with its bootstrap band
(``ci_low``-``ci_high``); the generating layer of a simulated ROI drawn thicker. A second key
(``repeats``) gets one line style per value. For simulated datasets, a last column draws the
recovery rate (fraction of subjects whose best layer generated the ROI) per method and ROI with
its Clopper-Pearson interval.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ._common import STYLE, save

STYLES = ["-", "--", ":", "-."]
KEYS = ["snr", "repeats", "betas_snr", "features_snr"]
X_LABELS = {"snr": "simulated SNR", "repeats": "repeats", "betas_snr": "SNR of the noise added to the betas",
            "features_snr": "SNR of the noise added to the features"}


def swept_keys(table: pd.DataFrame) -> list[str]:
    """The keys this sweep's rows vary (columns of ``sweep.csv`` with values), in :data:`KEYS` order."""
    return [k for k in KEYS if k in table and table[k].notna().any()]


def x_positions(values: pd.Series) -> tuple[np.ndarray, list, list]:
    """x of each value (``inf`` at twice the largest finite one) and the axis's ticks and labels."""
    v = values.to_numpy(dtype=float)
    finite = np.unique(v[np.isfinite(v)])
    top = 2 * finite.max() if finite.size else 1.0
    x = np.where(np.isfinite(v), v, top)
    ticks = list(finite) + ([top] if np.isinf(v).any() else [])
    return x, ticks, [f"{t:g}" for t in finite] + (["∞"] if np.isinf(v).any() else [])


def plot_sweep(table: pd.DataFrame, out, *, sweep: str) -> None:
    """Draw the noise curves of ``sweep`` from ``table`` (``sweep.csv``) to the PNG ``out``."""
    table = table[(table.sweep == sweep) & (table.metric != "r2")]
    if table.empty:
        raise ValueError(f"sweep.csv has no rows of sweep {sweep!r}")
    keys = swept_keys(table)
    xkey, other = keys[0], keys[1] if len(keys) > 1 else None
    scores, rates = table[table.metric != "recovery_rate"], table[table.metric == "recovery_rate"]
    panels = list(scores.groupby(["method", "metric"], sort=True).groups)
    rois = sorted(scores.roi.unique())
    layers = list(dict.fromkeys(zip(scores.model, scores.layer)))
    colours = dict(zip(layers, plt.get_cmap("tab10").colors * 3))
    styles = dict(zip(sorted(table[other].unique()) if other else [None], STYLES * 3))
    ncols = len(rois) + (1 if len(rates) else 0)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(panels), ncols, figsize=(3.2 * ncols, 2.8 * len(panels) + 1.0),
                                 squeeze=False, sharex=True)
        for r, (method, metric) in enumerate(panels):
            for c, roi in enumerate(rois):
                ax = axes[r, c]
                part = scores[(scores.method == method) & (scores.metric == metric) & (scores.roi == roi)]
                for (model, layer, level), g in part.groupby(["model", "layer", other or "method"], sort=False):
                    g = g.sort_values(xkey)
                    x = x_positions(g[xkey])[0]
                    thick = bool(g.generating.any())
                    ax.plot(x, g.score, STYLES[0] if other is None else styles[level], color=colours[model, layer],
                            lw=2.4 if thick else 1.2)
                    ax.fill_between(x, g.ci_low, g.ci_high, color=colours[model, layer], alpha=0.15, lw=0)
                ax.set_title(f"{roi}: {method}")
                if c == 0:
                    ax.set_ylabel(metric)
            if len(rates):
                ax = axes[r, -1]
                part = rates[rates.method == method]
                for (roi, level), g in part.groupby(["roi", other or "method"], sort=True):
                    g = g.sort_values(xkey)
                    x = x_positions(g[xkey])[0]
                    ax.errorbar(x, g.score, yerr=[g.score - g.ci_low, g.ci_high - g.score], capsize=2,
                                ls=STYLES[0] if other is None else styles[level], marker="o", ms=3,
                                label=roi + (f", {other} {level:g}" if other else ""))
                ax.set_ylim(-0.05, 1.05)
                ax.set_title(f"recovery rate: {method}")
                ax.legend(fontsize=7)
        _, ticks, labels = x_positions(table[xkey])
        for ax in axes[-1]:
            ax.set_xscale("log")
            ax.set_xticks(ticks, labels)
            ax.minorticks_off()
            ax.set_xlabel(X_LABELS[xkey])
        names = [f"{model} {layer}" for model, layer in layers]
        handles = [plt.Line2D([], [], color=colours[key], lw=1.2) for key in layers]
        if scores.generating.any():
            names.append("thick: the ROI's generating layer")
            handles.append(plt.Line2D([], [], color="grey", lw=2.4))
        if other:
            names += [f"{other} {v:g}" for v in styles]
            handles += [plt.Line2D([], [], color="grey", ls=s) for s in styles.values()]
        fig.legend(handles, names, loc="lower center", ncol=min(4, len(names)), frameon=False)
        fig.suptitle(f"Noise curves: {sweep}")
        fig.tight_layout(rect=(0, 0.1, 1, 0.97))
        save(fig, out)
