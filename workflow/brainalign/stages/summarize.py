"""Stage ``summarize``: every score with its bootstrap samples and noise ceiling, as a store and tables.

One *entry* is a dataset x subject x ROI x model x layer x method x metric. For each:

* encoding, ``pearson_r`` / ``r2``: ``score`` = the mean over voxels of each voxel's mean over
  held-out runs; ``score_bootstrap`` = that mean over voxels resampled with replacement
  (:data:`N_VOXEL_BOOTSTRAP` resamples, seeded); ``ceiling`` = what the stimulus-driven signal
  itself would score, from each voxel's noise ceiling ``NC_v`` (percent of single-trial variance,
  stored by the fMRI stage): ``mean_v sqrt(NC_v / 100)`` for Pearson r (a perfect prediction
  ``s`` of ``y = s + e`` has ``r = sd(s) / sd(y)``) and ``mean_v NC_v / 100`` for R²;
* RSA, the comparator (e.g. ``spearman``): ``score`` on all stimuli; ``score_bootstrap`` = the samples
  over stimuli stored by the RSA stage; ``ceiling`` / ``ceiling_low`` = the subject's upper and
  lower noise ceiling over the dataset's subjects (Nili et al. 2014, :func:`brainalign.metrics.
  rsa_stats.noise_ceiling`): its RDM compared with the pooled RDM of all subjects / of the others
  (NaN with a single subject), pooled and squared as the RSA settings say
  (:mod:`._rsa_settings`; metric ``<comparator>_r2`` when squared).
* decoding (model: the classifier, layer ``betas``), ``accuracy``: leave-one-run-out accuracy with
  its Clopper-Pearson interval, and ``chance`` (1 / number of labels) with the central 95 % range
  of the accuracy at chance (see :mod:`brainalign.stages.decode`); these rows are in
  ``summary.csv`` only (no bootstrap samples, no ceiling).

* probe (dataset: the labelled stimulus set, subject ``model``, ROI empty), ``probe_accuracy``:
  cross-validated linear-probe accuracy of each layer, and ``fewshot_accuracy_n{n}``: the mean
  n-shot accuracy over draws with its percentile interval over draws (see
  :mod:`brainalign.stages.probe`); ``summary.csv`` only.

``ci_low``, ``ci_high`` are the 2.5 and 97.5 percentiles of ``score_bootstrap``. Outputs under ``out``:

* ``scores.zarr``: ``score``, ``ci_low``, ``ci_high``, ``ceiling``, ``ceiling_low`` (entry) and
  ``score_bootstrap`` (entry, bootstrap; NaN past an entry's own number of samples), entry labels as
  coordinates, and the attribute ``skipped_rois`` (dataset -> ROI -> why RSA left it out): what
  the figures are drawn from;
* ``summary.csv`` (and ``summary.html``, the same table for the report): one row per entry;
* ``recovery.csv`` (simulated datasets only): per subject x ROI x method, which layer scored
  best and whether it is the layer that generated the ROI, with the runner-up and whether the two
  are indistinguishable;
* ``paired.csv``: paired differences of every pair of layers and models, and ``summary.csv``'s
  ``group_*`` columns: tests over subjects (:mod:`brainalign.stages.inference`, settings
  ``inference``).

Agreement with human judgements (``behaviour`` stores) adds rows to ``summary.csv`` and, for
simulated triplets, to ``recovery.csv`` (:mod:`brainalign.stages.behaviour_summary`); like decoding,
they are not in ``scores.zarr``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .. import store
from ..results import square_rdms
from . import inference
from ._rsa_settings import metric_name, subject_ceilings
from .behaviour_summary import behaviour_recovery, behaviour_rows

log = logging.getLogger(__name__)
N_VOXEL_BOOTSTRAP = 1000
LABELS = ["dataset", "subject", "roi", "model", "layer", "layer_index", "method", "metric"]
COLUMNS = LABELS + ["score", "ci_low", "ci_high", "ceiling", "ceiling_low", "n"]


def _entry(labels: dict, roi, layer, li, method, metric, score, samples, ceiling, ceiling_low, n) -> dict:
    return dict(dataset=labels["dataset"], subject=labels["subject"], roi=roi, model=labels["model"],
                layer=layer, layer_index=li, method=method, metric=metric, score=float(score),
                bootstrap=np.asarray(samples, dtype=np.float64), ceiling=float(ceiling),
                ceiling_low=float(ceiling_low), n=int(n))


def encoding_entries(path, rng: np.random.Generator) -> list[dict]:
    """Entries of one encoding store (module docstring)."""
    labels = store.read_provenance(path)["params"]
    entries = []
    for roi in store.group_names(path):
        ds = store.open_dataset(path, group=roi)
        nc = ds.noise_ceiling.values / 100.0 if "noise_ceiling" in ds.coords else np.full(ds.sizes["unit"], np.nan)
        ceilings = {"pearson_r": np.nanmean(np.sqrt(nc)) if np.isfinite(nc).any() else np.nan,
                    "r2": np.nanmean(nc) if np.isfinite(nc).any() else np.nan}
        for metric, var in (("pearson_r", "r"), ("r2", "r2")):
            per_voxel = ds[var].mean("fold").values  # (layer, unit)
            n_units = per_voxel.shape[1]
            resample = rng.integers(0, n_units, size=(N_VOXEL_BOOTSTRAP, n_units))
            for li, layer in enumerate(ds.layer.values.astype(str)):
                values = per_voxel[li]
                entries.append(_entry(labels, roi, layer, li, "encoding", metric, np.nanmean(values),
                                      np.nanmean(values[resample], axis=1), ceilings[metric], np.nan, n_units))
    return entries


def rsa_ceilings(paths) -> dict[tuple[str, str, str], tuple[float, float]]:
    """(dataset, subject, ROI) -> (lower, upper) RSA noise ceiling of that subject (module docstring).

    The brain RDMs are the same in every model's RSA store of a subject; the first is used, its
    pairs put in one stimulus order common to all subjects of the dataset.
    """
    rdms: dict[str, dict[str, xr.Dataset]] = {}
    settings = {}
    for path in paths:
        labels = store.read_provenance(path)["params"]
        settings[labels["dataset"]] = labels
        subjects = rdms.setdefault(labels["dataset"], {})
        if labels["subject"] not in subjects:
            subjects[labels["subject"]] = store.open_dataset(path)[["brain_rdm", "pair_i", "pair_j", "stimulus_id"]].load()
    out = {}
    for dataset, subjects in rdms.items():
        ordered = {s: square_rdms(ds, "brain_rdm") for s, ds in sorted(subjects.items())}
        ids = sorted(next(iter(ordered.values())).stimulus_id.values)
        i, j = np.triu_indices(len(ids), k=1)
        first = next(iter(subjects.values()))
        for roi in first.roi.values.astype(str):
            stack = np.stack([m.sel(roi=roi, stimulus_id=ids, other=ids).values[i, j] for m in ordered.values()])
            if len(stack) < 2:
                lower = upper = np.full(1, np.nan)
            else:
                lower, upper = subject_ceilings(stack, settings[dataset])
            for s, lo, up in zip(ordered, lower, upper):
                out[dataset, s, roi] = (float(lo), float(up))
    return out


def rsa_entries(path, ceilings: dict) -> list[dict]:
    """Entries of one RSA store (module docstring)."""
    labels = store.read_provenance(path)["params"]
    ds = store.open_dataset(path)[["score", "score_bootstrap", "stimulus_id"]].load()  # not the RDMs
    entries = []
    for ri, roi in enumerate(ds.roi.values.astype(str)):
        low, up = ceilings[labels["dataset"], labels["subject"], roi]
        for li, layer in enumerate(ds.layer.values.astype(str)):
            entries.append(_entry(labels, roi, layer, li, "rsa", metric_name(labels), ds.score.values[ri, li],
                                  ds.score_bootstrap.values[ri, :, li], up, low, ds.sizes["stimulus"]))
    return entries


def scores_dataset(entries: list[dict]) -> xr.Dataset:
    """The entries as one dataset (entry, bootstrap): the contents of ``scores.zarr``."""
    n_boot = max((len(e["bootstrap"]) for e in entries), default=0)
    boots = np.full((len(entries), n_boot), np.nan)
    for row, e in zip(boots, entries):
        row[:len(e["bootstrap"])] = e["bootstrap"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an entry without samples: NaN interval
        low, high = np.nanpercentile(boots, [2.5, 97.5], axis=1) if n_boot else (np.zeros(0),) * 2
    table = pd.DataFrame([{k: v for k, v in e.items() if k != "bootstrap"} for e in entries],
                         columns=[c for c in COLUMNS if c not in ("ci_low", "ci_high")])
    ds = xr.Dataset(
        {"score": ("entry", table.score.to_numpy()), "ci_low": ("entry", low), "ci_high": ("entry", high),
         "ceiling": ("entry", table.ceiling.to_numpy()), "ceiling_low": ("entry", table.ceiling_low.to_numpy()),
         "score_bootstrap": (("entry", "bootstrap"), boots)},
        coords={c: ("entry", table[c].to_numpy(dtype=int if c in ("layer_index", "n") else str))
                for c in LABELS + ["n"]})
    ds["score"].attrs["description"] = "encoding: mean over voxels of the mean over held-out runs; RSA: comparator"
    ds["score_bootstrap"].attrs["description"] = "encoding: resamples of voxels; RSA: resamples of stimuli (NaN = none)"
    ds["ceiling"].attrs["description"] = "noise ceiling: the score of the noise-free signal (RSA: upper bound)"
    ds["ceiling_low"].attrs["description"] = "RSA lower noise ceiling (leave one subject out); NaN for encoding"
    return ds


def with_vs_best(scores: xr.Dataset, intervals: dict) -> xr.Dataset:
    """``scores`` with ``vs_best_low``, ``vs_best_high`` (entry): the interval of best - this entry
    in its family (:func:`brainalign.stages.inference.vs_best`; NaN for entries of no family)."""
    keys = zip(*(scores[c].values.astype(str) for c in ("dataset", "roi", "method", "metric", "model", "layer")))
    low, high = np.array([intervals.get(k, (np.nan, np.nan)) for k in keys]).reshape(-1, 2).T
    scores = scores.assign(vs_best_low=("entry", low), vs_best_high=("entry", high))
    scores["vs_best_low"].attrs["description"] = ("interval of (best - this) over subjects and stimuli (RSA) or "
                                                  "voxels (encoding) together; 0 inside: indistinguishable")
    return scores


def summary_table(scores: xr.Dataset) -> pd.DataFrame:
    """One row per entry, the columns of :data:`COLUMNS` (``summary.csv``)."""
    return scores.drop_vars("score_bootstrap").to_dataframe().reset_index(drop=True)[COLUMNS]


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


def probe_rows(path) -> list[dict]:
    """Summary rows of one probe store: ``probe_accuracy`` and ``fewshot_accuracy_n{n}`` per layer
    (module docstring)."""
    ds = store.open_dataset(path)
    rows = []
    for li, layer in enumerate(ds.layer.values.astype(str)):
        common = dict(dataset=ds.attrs["dataset"], subject="model", roi="", model=ds.attrs["model"], layer=layer,
                      layer_index=li, method="probe", n=ds.sizes["stimulus"])
        rows.append({**common, "metric": "probe_accuracy", "score": float(ds.accuracy[li])})
        rows += [{**common, "metric": f"fewshot_accuracy_n{int(n)}", "score": float(ds.fewshot_mean[li, s]),
                  "ci_low": float(ds.fewshot_low[li, s]), "ci_high": float(ds.fewshot_high[li, s])}
                 for s, n in enumerate(ds.shot.values)]
    return rows


def recovery_table(summary: pd.DataFrame, datasets: dict) -> pd.DataFrame:
    """For each simulated ROI: the best layer per subject and method, against the generating one.

    Encoding is ranked by ``pearson_r``, RSA by its comparator (decoding rows, which score no
    layer, are left out). ``margin`` is the best score minus the best score of any other layer.
    """
    rows = []
    ranked = summary[summary.method.isin(["encoding", "rsa"]) & (summary.metric != "r2")]
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


def skipped_rois(rsa) -> dict:
    """``{dataset: {roi: reason}}``: the ROIs the RSA stores left out (their ``skipped_rois``
    attribute), so that a figure can say why a panel is empty."""
    out = {}
    for path in rsa:
        attrs = store.open_dataset(path).attrs
        out.setdefault(attrs.get("dataset", ""), {}).update(attrs.get("skipped_rois", {}))
    return out


def run(spec: dict, *, encoding, rsa, out, seed: int, decoding=(), probe=(), behaviour=()) -> None:
    """Write ``scores.zarr``, ``summary.csv``, ``summary.html``, ``recovery.csv`` and ``paired.csv``
    under ``out``."""
    rng = np.random.default_rng(seed)
    ceilings = rsa_ceilings(rsa)
    entries = [e for p in encoding for e in encoding_entries(p, rng)] + [e for p in rsa for e in rsa_entries(p, ceilings)]
    scores = scores_dataset(entries).assign_attrs(skipped_rois=skipped_rois(rsa))
    opts = {**inference.DEFAULTS, **spec.get("inference", {})}
    families = (inference.encoding_families(encoding, opts["n_bootstrap"], seed)
                + inference.rsa_families(rsa, opts["n_bootstrap"], seed))
    scores = with_vs_best(scores, inference.vs_best(families, n_bootstrap=opts["n_bootstrap"], ci=opts["ci"],
                                                    seed=seed))
    summary = summary_table(scores)
    summary = summary.join(inference.group_columns(summary, n_permutations=opts["n_permutations"], seed=seed))
    extra = ([row for p in decoding for row in decoding_rows(p)] + [row for p in probe for row in probe_rows(p)]
             + behaviour_rows(behaviour))
    if extra:
        summary = pd.concat([summary, pd.DataFrame(extra, columns=COLUMNS)], ignore_index=True)
    recovery = inference.recovery_intervals(recovery_table(summary, spec["datasets"]), families, opts["ci"])
    if behaviour:
        recovery = pd.concat([recovery, behaviour_recovery(behaviour, spec["datasets"], n_bootstrap=opts["n_bootstrap"],
                                                           ci=opts["ci"], seed=seed)], ignore_index=True)
    paired = inference.paired_table(families, n_bootstrap=opts["n_bootstrap"], n_permutations=opts["n_permutations"],
                                    ci=opts["ci"], seed=seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store.write_dataset(out / "scores.zarr", scores, stage="summarize", params=spec,
                        inputs=list(encoding) + list(rsa), seed=seed)
    store.atomic_file(out / "summary.csv", lambda p: summary.to_csv(p, index=False, float_format="%.6g"))
    store.atomic_file(out / "summary.html", lambda p: summary.to_html(p, index=False, float_format="{:.4g}".format,
                                                                 na_rep="", border=0))
    store.atomic_file(out / "recovery.csv", lambda p: recovery.to_csv(p, index=False, float_format="%.6g"))
    store.atomic_file(out / "paired.csv", lambda p: paired.to_csv(p, index=False, float_format="%.6g"))
    if len(recovery):
        log.info("recovery:\n%s", recovery.to_string(index=False))
