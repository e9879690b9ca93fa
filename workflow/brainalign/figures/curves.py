"""Sample-size curve: one alignment score against the number of stimuli, one line per layer.

From one curve store (:mod:`brainalign.stages.curves`): one panel per ROI and metric (per metric
for model-model similarity), one line per layer (per pair of layers for similarity): the mean over
the random subsets of each size, its band (:func:`brainalign.metrics.sample_size.curve_band`,
shaded), and the score on all stimuli as an open marker at the full count. The x axis is
logarithmic (base 2). Encoding's R² is in ``curves.csv``, not in the figure (Pearson r is drawn),
as in the score-by-layer figure.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..metrics.sample_size import curve_band
from ._common import STYLE, save

MAX_LEGEND = 12


def _line_name(ds, e: int) -> str:
    """The layer, or for similarity the pair ``model/layer ~ target_model/target_layer``."""
    if "target_model" in ds.coords:
        return (f"{ds.model.values[e]}/{ds.layer.values[e]} ~ "
                f"{ds.target_model.values[e]}/{ds.target_layer.values[e]}")
    return str(ds.layer.values[e])


def plot_curve(ds, out) -> None:
    """Draw the curve store ``ds`` (loaded) to the PNG ``out``."""
    boots = ds.score_bootstrap.values if "score_bootstrap" in ds else None
    mean, _, low, high = curve_band(ds.score.values, boots, float(ds.attrs["ci"]))
    panel_keys = [k for k in ("roi", "metric") if k in ds.coords]
    panels = [p for p in dict.fromkeys(zip(*(ds[k].values.astype(str) for k in panel_keys))) if p[-1] != "r2"]
    sizes, n_total = ds.n_stimuli.values, ds.sizes["stimulus"]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
        for ax, panel in zip(axes[0], panels):
            entries = [e for e in range(ds.sizes["entry"])
                       if tuple(str(ds[k].values[e]) for k in panel_keys) == panel]
            colours = plt.get_cmap("viridis" if len(entries) > 10 else "tab10")(
                np.linspace(0, 0.9, len(entries)) if len(entries) > 10 else np.arange(len(entries)))
            for colour, e in zip(colours, entries):
                ax.plot(sizes, mean[:, e], "-o", ms=3, color=colour, label=_line_name(ds, e))
                ax.fill_between(sizes, low[:, e], high[:, e], color=colour, alpha=0.15, lw=0)
                ax.plot([n_total], [ds.full.values[e]], "o", mfc="none", color=colour)
            ax.set_xscale("log", base=2)
            ax.set_xlabel("stimuli (n)")
            ax.set_ylabel(panel[-1])
            ax.set_title(" · ".join(panel))
            if len(entries) <= MAX_LEGEND:
                ax.legend(fontsize=7, frameon=False)
        labels = [f"{k} {ds.attrs[k]}" for k in ("dataset", "subject", "stimuli") if k in ds.attrs]
        fig.suptitle(f"{ds.attrs['method']} against the number of stimuli ({', '.join(labels)}; "
                     f"{ds.sizes['subset']} subsets per n; open marker: all {n_total})")
        fig.tight_layout()
        save(fig, out)
