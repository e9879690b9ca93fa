"""Stage ``sweep``: the noise curves of a study's swept datasets (``sweep.csv``).

``spec["sweeps"]`` is :meth:`brainalign.plan.StudyPlan.sweeps`: ``{base: {dataset: {key:
value}}}``, one derived dataset per point (:mod:`brainalign.sweeps`; a ``noise`` sweep's base is
its point ``inf``). From the summary store ``scores.zarr`` and ``recovery.csv``, one row per
sweep x point x ROI x method x metric x model x layer (R² left out, as in the figures):

* ``score``: the mean over the ``n`` subjects of the layer's score; ``ci_low``/``ci_high``: the
  2.5-97.5 percentile interval of the mean over subjects of each subject's ``b``-th bootstrap
  sample (:func:`brainalign.figures.score_by_layer.layer_curves`);
* ``generating``: whether this layer generated the ROI (simulated datasets).

and, for simulated datasets, one row per sweep x point x ROI x method with ``metric``
``recovery_rate``, ``model``/``layer`` the generating layer: ``score = k / n``, the fraction of
the ``n`` subjects whose best layer (``recovery.csv``) is the generating one, and its 95 %
Clopper-Pearson interval ``[B(0.025; k, n - k + 1), B(0.975; k + 1, n - k)]``. The point's
values are columns named by their keys (``snr``, ``repeats``, ``betas_snr``, ``features_snr``).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats

from .. import store

log = logging.getLogger(__name__)
LABELS = ["sweep", "dataset"]
COLUMNS = ["roi", "method", "metric", "model", "layer", "layer_index", "generating", "score", "ci_low", "ci_high", "n"]


def recovery_rates(recovery: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x ROI x method: the fraction of subjects whose best layer generated the ROI,
    with its 95 % Clopper-Pearson interval (module docstring)."""
    rows = []
    for (dataset, roi, method), g in recovery.groupby(["dataset", "roi", "method"], sort=False):
        k, n = int(g.recovered.astype(bool).sum()), len(g)
        ci = stats.binomtest(k, n).proportion_ci(0.95, method="exact")
        rows.append(dict(dataset=dataset, roi=roi, method=method, metric="recovery_rate", model=g.true_model.iloc[0],
                         layer=g.true_layer.iloc[0], layer_index=-1, generating=True, score=k / n,
                         ci_low=ci.low, ci_high=ci.high, n=n))
    return pd.DataFrame(rows, columns=["dataset", *COLUMNS])


def sweep_table(curves: pd.DataFrame, recovery: pd.DataFrame, sweeps: dict) -> pd.DataFrame:
    """``sweep.csv`` (module docstring) from the layer curves of every dataset and ``recovery.csv``."""
    truth = {(r.dataset, r.roi, r.true_model, r.true_layer) for r in recovery.itertuples()}
    scores = curves.rename(columns={"n_subjects": "n"}).assign(
        generating=[(r.dataset, r.roi, r.model, r.layer) in truth for r in curves.itertuples()])
    rows = pd.concat([scores[["dataset", *COLUMNS]], recovery_rates(recovery)], ignore_index=True)
    keys = list(dict.fromkeys(k for points in sweeps.values() for values in points.values() for k in values))
    parts = []
    for base, points in sweeps.items():
        for dataset, values in points.items():
            part = rows[rows.dataset == dataset]
            if part.empty:
                raise ValueError(f"sweep {base!r}: dataset {dataset!r} has no scores in the summary")
            parts.append(part.assign(sweep=base, **{k: values.get(k, np.nan) for k in keys}))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=rows.columns)
    return table[LABELS + keys + COLUMNS]


def run(spec: dict, *, scores, recovery, out, seed: int) -> None:
    """Write ``sweep.csv`` to ``out`` from the summary store ``scores`` and ``recovery`` (a CSV)."""
    from ..figures.score_by_layer import layer_curves

    curves = layer_curves(store.open_dataset(scores))
    table = sweep_table(curves, pd.read_csv(recovery), spec["sweeps"])
    store.atomic_file(out, lambda p: table.to_csv(p, index=False, float_format="%.6g"))
    rates = table[table.metric == "recovery_rate"]
    if len(rates):
        log.info("recovery rate by point:\n%s", rates.groupby(["sweep", "dataset", "method"], sort=False)
                 .score.mean().to_string())
