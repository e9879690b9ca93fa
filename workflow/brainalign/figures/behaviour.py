"""Agreement with human judgements by layer: one panel per behaviour dataset (rows) and metric
(columns), one line per model.

From the ``behaviour`` stores (:mod:`brainalign.stages.behaviour`): the line is each layer's
``score`` (odd-one-out or 2AFC accuracy, gLocal held-out accuracy, or RSA Spearman rho), the
coloured band its interval over judgements (``ci_low`` to ``ci_high``; RSA: over items); the grey
band is the human ceiling's interval (``ceiling_low`` to ``ceiling_high``) around its dashed line
``ceiling``; a dotted line marks chance (1/3 for triplets, 1/2 for 2AFC). The x axis is the
layer's relative depth, ``index / (n_layers - 1)``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ._common import STYLE, model_colours, save

CHANCE = {"triplets": 1 / 3, "two_afc": 1 / 2}
Y_LABELS = {"odd_one_out_cosine": "odd-one-out accuracy (cosine)", "odd_one_out_dot": "odd-one-out accuracy (dot)",
            "glocal_odd_one_out": "gLocal probe, held-out items", "two_afc_cosine": "2AFC accuracy (cosine)",
            "rsa_spearman": "Spearman ρ, layer RDM vs human"}


def plot_behaviour(stores, path) -> None:
    """Draw the figure (module docstring) from the ``agreement`` groups ``stores`` to ``path``."""
    by_dataset = {}
    for ds in stores:
        by_dataset.setdefault(ds.attrs["dataset"], []).append(ds)
    metrics = {d: list(v[0].metric.values.astype(str)) for d, v in by_dataset.items()}
    n_cols = max(len(m) for m in metrics.values())
    colours = model_colours({ds.attrs["model"] for ds in stores})
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(by_dataset), n_cols, figsize=(3.6 * n_cols + 0.6, 3.0 * len(by_dataset) + 0.9),
                                 squeeze=False, layout="constrained")
        for r, (dataset, group) in enumerate(sorted(by_dataset.items())):
            for ax in axes[r, len(metrics[dataset]):]:
                ax.set_axis_off()
            first = group[0].attrs
            for c, metric in enumerate(metrics[dataset]):
                ax = axes[r, c]
                if np.isfinite(first["ceiling"]):
                    ax.axhspan(first["ceiling_low"], first["ceiling_high"], color="0.85", zorder=0)
                    ax.axhline(first["ceiling"], color="0.35", ls="--", lw=1, zorder=1)
                if first["kind"] in CHANCE:
                    ax.axhline(CHANCE[first["kind"]], color="0.5", ls=":", lw=1)
                for ds in sorted(group, key=lambda d: d.attrs["model"]):
                    part = ds.sel(metric=metric)
                    depth = np.arange(ds.sizes["layer"]) / max(ds.sizes["layer"] - 1, 1)
                    low, high = part.ci_low.values, part.ci_high.values
                    if first["kind"] == "similarity":
                        low, high = part.item_ci_low.values, part.item_ci_high.values
                    colour = colours[ds.attrs["model"]]
                    ax.fill_between(depth, low, high, color=colour, alpha=0.2, lw=0)
                    ax.plot(depth, part.score.values, "o-", color=colour, ms=4, lw=1.5)
                ax.set_title(f"{dataset} ({first['kind']}): {metric}")
                ax.set_ylabel(Y_LABELS.get(metric, metric))
                ax.set_xlabel("relative layer depth\n(0 = first extracted, 1 = last)")
                ax.set_xlim(-0.08, 1.08)
        handles = [Line2D([], [], color=colours[m], marker="o", ms=4, label=m) for m in colours]
        handles += [Patch(color="0.5", alpha=0.3, label="95 % bootstrap interval"),
                    Line2D([], [], color="0.35", ls="--", label="human ceiling"),
                    Patch(color="0.85", label="ceiling interval"), Line2D([], [], color="0.5", ls=":", label="chance")]
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), frameon=False)
        fig.suptitle("Agreement of every layer with human judgements")
        save(fig, path)
