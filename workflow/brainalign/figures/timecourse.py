"""Score-over-time curves of MEG/EEG alignment: one panel per method x model, one curve per layer.

Each panel is drawn from a dataset with ``score``, ``score_ci_low``, ``score_ci_high``
(layer, time) and ``peak_latency`` (layer), times in seconds (plotted in ms). Every curve's peak is
marked (a dot, and its latency in the legend); simulated latencies, if given, are dashed lines.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from ._common import save

__all__ = ["timecourse_figure"]


def timecourse_figure(panels: Mapping[tuple[str, str], xr.Dataset], path, *,
                      ylabels: Mapping[str, str] | None = None,
                      markers: Mapping[str, tuple[str, float]] | None = None, title: str | None = None) -> None:
    """Draw ``panels`` ((row, column) -> dataset, see the module docstring) into ``path``.

    ``ylabels`` maps a row to its y-axis label; ``markers`` maps a column (model) to
    (label, latency in s) pairs drawn as dashed vertical lines: the simulated peak of a layer.
    """
    rows = list(dict.fromkeys(r for r, _ in panels))
    cols = list(dict.fromkeys(c for _, c in panels))
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(3.6 * len(cols), 3.0 * len(rows) + 0.4),
                             squeeze=False, sharex=True, sharey="row", constrained_layout=True)
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            ax = axes[i, j]
            ds = panels.get((row, col))
            if ds is None:
                ax.set_visible(False)
                continue
            ms = 1e3 * ds["time"].values
            colours = plt.get_cmap("viridis")(np.linspace(0, 0.85, ds.sizes["layer"]))
            for colour, layer in zip(colours, ds["layer"].values):
                one = ds.sel(layer=layer)
                peak = float(one["peak_latency"])
                ax.plot(ms, one["score"], color=colour, lw=1.4, label=f"{layer} (peak {1e3 * peak:.0f} ms)")
                if "score_ci_low" in one:
                    ax.fill_between(ms, one["score_ci_low"], one["score_ci_high"], color=colour, alpha=0.2, lw=0)
                if np.isfinite(peak):
                    ax.plot(1e3 * peak, float(one["score"].sel(time=peak)), "o", color=colour, ms=5,
                            mec="black", mew=0.6)
            for label, latency in (markers or {}).get(col, ()):
                ax.axvline(1e3 * latency, color="0.3", ls="--", lw=0.9)
                left_half = 1e3 * latency < ms.mean()  # the label goes on the side with more room
                ax.annotate(f"simulated {label}: {1e3 * latency:.0f} ms", (1e3 * latency, 0),
                            xycoords=("data", "axes fraction"), xytext=(3 if left_half else -3, 3),
                            textcoords="offset points", ha="left" if left_half else "right", va="bottom",
                            fontsize=7, color="0.3")
            ax.axhline(0, color="0.7", lw=0.8)
            ax.axvline(0, color="0.7", lw=0.8, ls=":")
            ax.set_title(f"{col}: {row}", fontsize=10)
            if i == len(rows) - 1:
                ax.set_xlabel("time after stimulus onset (ms)")
            if j == 0:
                ax.set_ylabel((ylabels or {}).get(row, "score"))
            ax.legend(fontsize=7, frameon=False, loc="upper right")
            ax.margins(x=0)
    for row_axes in axes:  # headroom above the curves for the legends, without ticks beyond the data
        low, high = row_axes[0].get_ylim()
        row_axes[0].set_yticks([t for t in row_axes[0].get_yticks() if low <= t <= high])
        row_axes[0].set_ylim(low, high + 0.45 * (high - low))
    if title:
        fig.suptitle(title, fontsize=11)
    save(fig, path)
