"""Stage ``meg_summarize``: tables and figure of the time-resolved MEG/EEG results (``meg_align`` stores).

``meg_summary.csv``: one row per dataset x subject x model x layer x method x metric with the
peak of the score time course: ``peak_score`` and the bootstrap band of the score at that time
(``peak_score_ci_low``, ``peak_score_ci_high``), ``peak_latency_ms`` and the percentile interval
of the bootstrap peak latencies (``peak_latency_ci_low_ms``, ``peak_latency_ci_high_ms``).

``meg_recovery.csv`` (simulated datasets): per subject x driving layer x method, the simulated
latency, the peak latency recovered for that layer, the error ``recovered - true`` (ms), whether
``|error| <= 20 ms`` (:data:`TOLERANCE_MS`), and which layer of any model scores best at the time
nearest the simulated latency (``ranks_first``: the driving layer does; ``margin``: its score
minus the best other layer's there).

``meg_timecourse.csv``: the curves of the figure as a table, one row per dataset x model x layer x
method x metric x time (ms): the subject mean ``score`` and its band (``ci_low``, ``ci_high``;
empty without bootstrap samples).

``figures/meg_timecourse.png``: score over time of every layer (:mod:`brainalign.figures.timecourse`),
averaged over subjects; bands are percentile intervals of the subject mean over bootstrap samples
(sample ``b`` of every subject averaged), and the marked peak is that of the mean curve.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .. import store
from ..figures.timecourse import timecourse_figure
from ..metrics.time_resolved import time_course_summary

log = logging.getLogger(__name__)
TOLERANCE_MS = 20.0  # the recovery criterion
SUMMARY_COLUMNS = ["dataset", "subject", "model", "layer", "layer_index", "method", "metric", "peak_score",
                   "peak_score_ci_low", "peak_score_ci_high", "peak_latency_ms", "peak_latency_ci_low_ms",
                   "peak_latency_ci_high_ms", "n_bootstrap"]
TIMECOURSE_COLUMNS = ["dataset", "model", "layer", "method", "metric", "time_ms", "score", "ci_low", "ci_high",
                      "n_subjects"]
RECOVERY_COLUMNS = ["dataset", "subject", "method", "driver", "true_model", "true_layer", "true_latency_ms",
                    "recovered_latency_ms", "error_ms", "within_20ms", "best_model_at_latency",
                    "best_layer_at_latency", "ranks_first", "margin"]
YLABELS = {"rsa": "RSA: {metric} correlation of RDMs", "encoding": "encoding: mean held-out Pearson r"}


USED = ["score", "score_ci_low", "score_ci_high", "bootstrap_score", "peak_score", "peak_latency",
        "peak_latency_ci_low", "peak_latency_ci_high"]


def _load(paths) -> list[xr.Dataset]:
    """The score time courses and peaks (:data:`USED`; not the per-channel ``r``) of both groups
    (``rsa``, ``encoding``) of every ``meg_align`` store."""
    groups = [store.open_dataset(p, group=g) for g in ("rsa", "encoding") for p in paths]
    return [ds[[v for v in USED if v in ds]].load() for ds in groups]


def summary_rows(ds: xr.Dataset) -> list[dict]:
    """Peak rows of one time-resolved store (module docstring)."""
    rows = []
    for index, layer in enumerate(ds.layer.values.astype(str)):
        one = ds.sel(layer=layer)
        peak = float(one.peak_latency)
        band = {k: float(one[f"score_ci_{k}"].sel(time=peak)) if f"score_ci_{k}" in one else np.nan
                for k in ("low", "high")}
        rows.append({"dataset": ds.attrs["dataset"], "subject": ds.attrs["subject"], "model": ds.attrs["model"],
                     "layer": layer, "layer_index": index, "method": ds.attrs["method"],
                     "metric": ds.attrs["metric"], "peak_score": float(one.peak_score),
                     "peak_score_ci_low": band["low"], "peak_score_ci_high": band["high"],
                     "peak_latency_ms": 1e3 * peak,
                     "peak_latency_ci_low_ms": 1e3 * float(one.get("peak_latency_ci_low", np.nan)),
                     "peak_latency_ci_high_ms": 1e3 * float(one.get("peak_latency_ci_high", np.nan)),
                     "n_bootstrap": ds.sizes.get("bootstrap", 0)})
    return rows


def recovery_table(results: list[xr.Dataset], datasets: dict) -> pd.DataFrame:
    """Recovered latency and rank of every simulated driving layer (module docstring)."""
    rows = []
    for name, spec in datasets.items():
        for label, gen in spec.get("simulate_meg", {}).get("layers", {}).items():
            for subject in spec["subjects"]:
                for method in ("rsa", "encoding"):
                    mine = [ds for ds in results if (ds.attrs["dataset"], ds.attrs["subject"],
                                                     ds.attrs["method"]) == (name, subject, method)]
                    if not mine:
                        continue
                    driver = next(ds for ds in mine if ds.attrs["model"] == gen["model"])
                    found = float(driver.peak_latency.sel(layer=gen["layer"]))
                    at = {(ds.attrs["model"], layer): float(ds.score.sel(layer=layer).sel(
                        time=gen["latency"], method="nearest")) for ds in mine for layer in ds.layer.values.astype(str)}
                    ranked = sorted(at, key=at.get, reverse=True)
                    others = [at[k] for k in ranked if k != (gen["model"], gen["layer"])]
                    error = 1e3 * (found - gen["latency"])
                    rows.append({"dataset": name, "subject": subject, "method": method, "driver": label,
                                 "true_model": gen["model"], "true_layer": gen["layer"],
                                 "true_latency_ms": 1e3 * gen["latency"], "recovered_latency_ms": 1e3 * found,
                                 "error_ms": error, "within_20ms": bool(abs(error) <= TOLERANCE_MS + 1e-9),
                                 "best_model_at_latency": ranked[0][0], "best_layer_at_latency": ranked[0][1],
                                 "ranks_first": ranked[0] == (gen["model"], gen["layer"]),
                                 "margin": at[(gen["model"], gen["layer"])] - max(others, default=np.nan)})
    return pd.DataFrame(rows, columns=RECOVERY_COLUMNS)


def group_time_course(results: list[xr.Dataset], ci: float, latency_window) -> xr.Dataset:
    """Subject mean of one model's time courses, with bands from the mean of the subjects'
    bootstrap samples (module docstring)."""
    mean = sum(ds.score for ds in results) / len(results)
    boots = [ds.bootstrap_score.values for ds in results if "bootstrap_score" in ds]
    boot = sum(boots) / len(boots) if len(boots) == len(results) else None
    data = time_course_summary(mean.values, mean.time.values, boot, ci=ci, latency_window=latency_window)
    return xr.Dataset(data, coords={"layer": mean.layer.values, "time": mean.time.values})


def timecourse_rows(curve: xr.Dataset, labels: dict, n_subjects: int) -> pd.DataFrame:
    """The rows of ``meg_timecourse.csv`` (module docstring) of one group time course."""
    table = pd.DataFrame({
        "layer": np.repeat(curve.layer.values.astype(str), curve.sizes["time"]),
        "time_ms": np.tile(1e3 * curve.time.values, curve.sizes["layer"]),
        **{c: (curve[v].values.ravel() if v in curve else np.nan)
           for c, v in (("score", "score"), ("ci_low", "score_ci_low"), ("ci_high", "score_ci_high"))}})
    return table.assign(**labels, n_subjects=n_subjects)[TIMECOURSE_COLUMNS]


def run(spec: dict, *, stores, out, seed: int) -> None:
    """Write ``meg_summary.csv``, ``meg_recovery.csv``, ``meg_timecourse.csv`` and
    ``figures/meg_timecourse.png`` under ``out`` from the ``meg_align`` ``stores``."""
    results = _load(stores)
    summary = pd.DataFrame([row for ds in results for row in summary_rows(ds)], columns=SUMMARY_COLUMNS)
    recovery = recovery_table(results, spec["datasets"])
    panels, markers, ylabels, curves = {}, {}, {}, []
    several = summary.dataset.nunique() > 1
    for (dataset, method, model), _ in summary.groupby(["dataset", "method", "model"], sort=False):
        group = [ds for ds in results if (ds.attrs["dataset"], ds.attrs["method"], ds.attrs["model"])
                 == (dataset, method, model)]
        column = f"{dataset}: {model}" if several else model
        panels[(method, column)] = group_time_course(group, spec["ci"], spec["latency_window"])
        curves.append(timecourse_rows(panels[(method, column)], {"dataset": dataset, "model": model, "method": method,
                                                                  "metric": group[0].attrs["metric"]}, len(group)))
        ylabels[method] = YLABELS[method].format(metric=group[0].attrs["metric"])
        for gen in spec["datasets"][dataset].get("simulate_meg", {}).get("layers", {}).values():
            if gen["model"] == model:
                markers.setdefault(column, {})[gen["layer"]] = gen["latency"]
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    store.atomic_file(out / "meg_summary.csv", lambda p: summary.to_csv(p, index=False, float_format="%.6g"))
    store.atomic_file(out / "meg_recovery.csv", lambda p: recovery.to_csv(p, index=False, float_format="%.6g"))
    timecourse = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=TIMECOURSE_COLUMNS)
    store.atomic_file(out / "meg_timecourse.csv", lambda p: timecourse.to_csv(p, index=False, float_format="%.6g"))
    store.atomic_file(out / "figures" / "meg_timecourse.png",
                  lambda p: timecourse_figure(panels, p, ylabels=ylabels,
                                              markers={m: list(v.items()) for m, v in markers.items()},
                                              title="MEG/EEG: alignment over time (mean over subjects)"))
    if len(recovery):
        log.info("MEG recovery:\n%s", recovery.to_string(index=False))
