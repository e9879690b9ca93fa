"""Rows of ``summary.csv`` and ``recovery.csv`` from the ``behaviour`` stores.

``summary.csv``: one row per dataset x model x layer x metric, ``method`` ``behaviour``, ``subject``
``group``, ``roi`` the dataset's kind, ``score`` and its interval over judgements (``ci_low``,
``ci_high``), ``ceiling`` the human ceiling, ``n`` the judgements scored (test triplets for
``glocal_odd_one_out``).

``recovery.csv`` (simulated triplets only): the layer of every model with the best
``odd_one_out_cosine`` against the generating one; ``margin`` = best - runner-up, with its
percentile interval over ``n_bootstrap`` paired resamples of the judgements (the same draws for
both layers), ``indistinguishable`` when that interval contains 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import store

RANKED = "odd_one_out_cosine"


def behaviour_rows(paths) -> list[dict]:
    """Summary rows of the behaviour stores (module docstring)."""
    rows = []
    for path in paths:
        ds = store.open_dataset(path, group="agreement")
        for li, layer in enumerate(ds.layer.values.astype(str)):
            for mi, metric in enumerate(ds.metric.values.astype(str)):
                rows.append(dict(dataset=ds.attrs["dataset"], subject="group", roi=ds.attrs["kind"],
                                 model=ds.attrs["model"], layer=layer, layer_index=li, method="behaviour",
                                 metric=metric, score=float(ds.score.values[li, mi]),
                                 ci_low=float(ds.ci_low.values[li, mi]), ci_high=float(ds.ci_high.values[li, mi]),
                                 ceiling=float(ds.attrs["ceiling"]), ceiling_low=np.nan, n=int(ds.n.values[mi])))
    return rows


def behaviour_recovery(paths, datasets: dict, *, n_bootstrap: int, ci: float, seed: int) -> pd.DataFrame:
    """Recovery rows of the simulated behaviour datasets (module docstring)."""
    correct, rows = {}, []
    for path in paths:
        ds = store.open_dataset(path, group="agreement")
        if "simulate_behaviour" in datasets.get(ds.attrs["dataset"], {}):
            for layer in ds.layer.values.astype(str):
                key = (ds.attrs["dataset"], ds.attrs["model"], layer)
                correct[key] = ds.correct.sel(layer=layer, similarity="cosine").values.astype(np.float64)
    for name in sorted({k[0] for k in correct}):
        gen = datasets[name]["simulate_behaviour"]
        keys = sorted((k for k in correct if k[0] == name), key=lambda k: -correct[k].mean())
        best, second = keys[0], keys[1] if len(keys) > 1 else None
        row = dict(dataset=name, subject="group", roi="triplets", method="behaviour", true_model=gen["model"],
                   true_layer=gen["layer"], best_model=best[1], best_layer=best[2], best_score=correct[best].mean(),
                   recovered=best[1:] == (gen["model"], gen["layer"]))
        if second is None:
            rows.append({**row, "margin": np.nan, "runner_up_model": "", "runner_up_layer": "", "margin_low": np.nan,
                         "margin_high": np.nan, "indistinguishable": True})
            continue
        diff = correct[best] - correct[second]
        draws = np.random.default_rng(seed).integers(0, len(diff), size=(n_bootstrap, len(diff)))
        low, high = np.quantile(diff[draws].mean(axis=1), [(1 - ci) / 2, (1 + ci) / 2])
        rows.append({**row, "margin": diff.mean(), "runner_up_model": second[1], "runner_up_layer": second[2],
                     "margin_low": low, "margin_high": high, "indistinguishable": bool(low <= 0 <= high)})
    return pd.DataFrame(rows)
