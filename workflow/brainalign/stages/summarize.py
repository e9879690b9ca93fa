"""Stage ``summarize``: the tidy summary table, the recovery table, and the score-by-layer figure.

``summary.csv`` has one row per dataset x subject x ROI x model x layer x method x metric with
``score``, its 95 % confidence interval (``ci_low``, ``ci_high``) and how it was obtained:

* encoding, ``pearson_r`` / ``r2``: the mean over voxels of each voxel's mean over held-out runs;
  the interval is a percentile bootstrap over voxels (1000 resamples, seeded);
* RSA, the comparator (e.g. ``spearman``): the score on all stimuli; the interval is the
  percentile interval of the bootstrap over stimuli stored by the RSA stage;
* decoding (model: the classifier, layer ``betas``), ``accuracy``: leave-one-run-out accuracy with
  its Clopper-Pearson interval, and ``chance`` (1 / number of labels) with the central 95 % range
  of the accuracy at chance (see :mod:`brainalign.stages.decode`).

``recovery.csv`` (simulated datasets only) says, per subject x ROI x method, which layer scored
best and whether it is the layer that generated the ROI.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .. import store  # noqa: E402

log = logging.getLogger(__name__)
N_VOXEL_BOOTSTRAP = 1000
COLUMNS = ["dataset", "subject", "roi", "model", "layer", "layer_index", "method", "metric",
           "score", "ci_low", "ci_high", "n"]


def _percentile_ci(samples: np.ndarray) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return np.nan, np.nan
    low, high = np.percentile(samples, [2.5, 97.5])
    return float(low), float(high)


def encoding_rows(path, rng: np.random.Generator) -> list[dict]:
    """Summary rows of one encoding store (see the module docstring)."""
    labels = store.read_provenance(path)["params"]
    rows = []
    for roi in store.group_names(path):
        ds = store.open_dataset(path, group=roi)
        for metric, var in (("pearson_r", "r"), ("r2", "r2")):
            per_voxel = ds[var].mean("fold").values  # (layer, unit)
            n_units = per_voxel.shape[1]
            resample = rng.integers(0, n_units, size=(N_VOXEL_BOOTSTRAP, n_units))
            for li, layer in enumerate(ds.layer.values.astype(str)):
                values = per_voxel[li]
                low, high = _percentile_ci(np.nanmean(values[resample], axis=1))
                rows.append(dict(dataset=labels["dataset"], subject=labels["subject"], roi=roi,
                                 model=labels["model"], layer=layer, layer_index=li, method="encoding",
                                 metric=metric, score=float(np.nanmean(values)), ci_low=low,
                                 ci_high=high, n=n_units))
    return rows


def rsa_rows(path) -> list[dict]:
    """Summary rows of one RSA store (see the module docstring)."""
    labels = store.read_provenance(path)["params"]
    ds = store.open_dataset(path)
    rows = []
    for roi in ds.roi.values.astype(str):
        for li, layer in enumerate(ds.layer.values.astype(str)):
            low, high = _percentile_ci(ds.bootstrap.sel(roi=roi, layer=layer).values)
            rows.append(dict(dataset=labels["dataset"], subject=labels["subject"], roi=roi,
                             model=labels["model"], layer=layer, layer_index=li, method="rsa",
                             metric=labels["comparator"], score=float(ds.score.sel(roi=roi, layer=layer)),
                             ci_low=low, ci_high=high, n=ds.sizes["stimulus"]))
    return rows


def decoding_rows(path) -> list[dict]:
    """Summary rows of one decoding store: ``accuracy`` and ``chance`` per ROI (module docstring)."""
    ds = store.open_dataset(path)
    rows = []
    for roi in ds.roi.values.astype(str):
        part = ds.sel(roi=roi)
        common = dict(dataset=ds.attrs["dataset"], subject=ds.attrs["subject"], roi=roi, model=ds.attrs["classifier"],
                      layer="betas", layer_index=0, method="decoding", n=ds.sizes["trial"])
        rows.append({**common, "metric": "accuracy", "score": float(part.accuracy), "ci_low": float(part.ci_low),
                     "ci_high": float(part.ci_high)})
        rows.append({**common, "metric": "chance", "score": float(ds.attrs["chance"]),
                     "ci_low": float(part.chance_low), "ci_high": float(part.chance_high)})
    return rows


def recovery_table(summary: pd.DataFrame, datasets: dict) -> pd.DataFrame:
    """For each simulated ROI: the best layer per subject and method, against the generating one.

    Encoding is ranked by ``pearson_r``, RSA by its comparator. ``margin`` is the best score
    minus the best score of any other layer.
    """
    rows = []
    ranked = summary[summary.metric != "r2"]
    for name, spec in datasets.items():
        for roi, gen in spec.get("simulate", {}).get("rois", {}).items():
            part = ranked[(ranked.dataset == name) & (ranked.roi == roi)]
            for (subject, method), g in part.groupby(["subject", "method"], sort=True):
                g = g.sort_values("score", ascending=False)
                best, second = g.iloc[0], g.iloc[1] if len(g) > 1 else None
                rows.append(dict(dataset=name, subject=subject, roi=roi, method=method,
                                 true_model=gen["model"], true_layer=gen["layer"],
                                 best_model=best.model, best_layer=best.layer, best_score=best.score,
                                 margin=best.score - (second.score if second is not None else np.nan),
                                 recovered=bool(best.model == gen["model"] and best.layer == gen["layer"])))
    return pd.DataFrame(rows, columns=["dataset", "subject", "roi", "method", "true_model", "true_layer",
                                       "best_model", "best_layer", "best_score", "margin", "recovered"])


def score_by_layer_figure(summary: pd.DataFrame, path) -> None:
    """Score of every layer (x: depth, the layer's position in its model scaled to 0-1), one line per
    model, one panel per ROI (columns) and method (rows); mean over subjects, band = min to max."""
    data = summary[summary.metric != "r2"]
    rois = sorted(data.roi.unique())
    methods = sorted(data.method.unique())
    fig, axes = plt.subplots(len(methods), len(rois), figsize=(4.2 * len(rois), 3.4 * len(methods)),
                             squeeze=False, constrained_layout=True)
    colours = dict(zip(sorted(data.model.unique()), plt.get_cmap("tab10").colors))
    for r, method in enumerate(methods):
        for c, roi in enumerate(rois):
            ax = axes[r, c]
            part = data[(data.method == method) & (data.roi == roi)]
            for model, g in part.groupby("model"):
                stats = g.groupby(["layer_index", "layer"]).score.agg(["mean", "min", "max"]).reset_index()
                depth = stats.layer_index / max(stats.layer_index.max(), 1)
                ax.plot(depth, stats["mean"], "o-", color=colours[model], label=model)
                ax.fill_between(depth, stats["min"], stats["max"], color=colours[model], alpha=0.2)
                best = stats["mean"].idxmax()
                ax.annotate(stats.layer[best], (depth[best], stats["mean"][best]), fontsize=7,
                            textcoords="offset points", xytext=(0, 5), ha="center", color=colours[model])
            metric = part.metric.iloc[0] if len(part) else ""
            ax.set_title(f"ROI {roi}: {method}")
            ax.set_xlabel("layer depth (0 = first extracted, 1 = last)")
            ax.set_ylabel({"pearson_r": "mean Pearson r (held-out runs)"}.get(metric, f"{metric} correlation"))
            ax.axhline(0, color="0.7", lw=0.8)
            ax.margins(x=0.1, y=0.15)
            ax.legend(fontsize=8, frameon=False)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _atomic_write(path: Path, write) -> None:
    """Write a file through a temporary sibling (same suffix) renamed into place when complete."""
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def run(spec: dict, *, encoding, rsa, out, seed: int, decoding=()) -> None:
    """Write ``summary.csv``, ``recovery.csv`` and ``figures/score_by_layer.png`` under ``out``."""
    rng = np.random.default_rng(seed)
    rows = [row for p in encoding for row in encoding_rows(p, rng)] + [row for p in rsa for row in rsa_rows(p)]
    rows += [row for p in decoding for row in decoding_rows(p)]
    summary = pd.DataFrame(rows, columns=COLUMNS)
    recovery = recovery_table(summary, spec["datasets"])
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    _atomic_write(out / "summary.csv", lambda p: summary.to_csv(p, index=False, float_format="%.6g"))
    _atomic_write(out / "recovery.csv", lambda p: recovery.to_csv(p, index=False, float_format="%.6g"))
    _atomic_write(out / "figures" / "score_by_layer.png", lambda p: score_by_layer_figure(
        summary[summary.method != "decoding"], p))
    if len(recovery):
        log.info("recovery:\n%s", recovery.to_string(index=False))
