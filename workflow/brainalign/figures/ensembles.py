"""Trained ensembles: alignment among members and their test error against training-set size and SNR.

One row of panels per ensemble: one panel per metric (alignment of the ensemble's last layer,
its read-out, mean over pairs of members with +-1 s.d. over pairs) and a last panel of the
members' test error (median over members: a cell at the interpolation threshold has a few
members with very large errors), all against ``n_train`` on a log axis, one colour per SNR and
one line style per width.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

from ._common import STYLE, save

LINESTYLES = ("-", "--", ":", "-.")


def plot_ensembles(stores: dict[str, xr.Dataset], path) -> pd.DataFrame:
    """Draw the ensembles (module docstring) of ``{name: ensemble store}`` to ``path``; return the
    curves drawn (ensemble, metric, snr, width, n_train, value)."""
    names = list(stores)
    n_cols = max(stores[n].sizes["metric"] for n in names) + 1
    drawn = []
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(names), n_cols, squeeze=False, layout="constrained",
                                 figsize=(3.1 * n_cols, 2.7 * len(names) + 0.4))
        for r, name in enumerate(names):
            ds = stores[name]
            layer = str(ds.layer.values[-1])
            colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.9, ds.sizes["snr"]))
            panels = [(m, ds.alignment.sel(layer=layer, metric=m)) for m in ds.metric.values.astype(str)]
            panels.append(("test error", ds.test_error))
            for c, (label, values) in enumerate(panels):
                ax = axes[r, c]
                for si, snr in enumerate(ds.snr.values):
                    for wi, width in enumerate(ds.width.values):
                        v = values.sel(snr=snr, width=width)
                        dim = "seed" if label == "test error" else "pair"
                        centre = v.median(dim) if label == "test error" else v.mean(dim)
                        ax.plot(ds.n_train.values, centre.values, LINESTYLES[wi % 4], marker="o", ms=3,
                                color=colours[si], label=f"snr {snr:g}, width {width}")
                        if label != "test error":
                            sd = v.std(dim).values
                            ax.fill_between(ds.n_train.values, centre.values - sd, centre.values + sd,
                                            color=colours[si], alpha=0.12, lw=0)
                        drawn += [(name, label, float(snr), int(width), int(n), float(x))
                                  for n, x in zip(ds.n_train.values, centre.values)]
                ax.set_xscale("log")
                if label == "test error":
                    ax.set_yscale("log")
                for width in ds.width.values:
                    ax.axvline(width + 1, color="0.6", lw=0.8, ls=":")
                ax.set_xlabel("training-set size n_train")
                kind = "" if label == "test error" else f" ({str(ds.kind.sel(metric=label).values)})"
                ax.set_title(f"{name}: {label}{kind}" + ("" if label == "test error" else f", {layer}"))
            axes[r, 0].legend(fontsize=7, frameon=False)
        for ax in axes.flat[len(names) * n_cols:]:
            ax.set_visible(False)
        save(fig, path)
    return pd.DataFrame(drawn, columns=["ensemble", "metric", "snr", "width", "n_train", "value"])
