"""Paired and group-level inference over a study's scores (run by the ``summarize`` stage).

A *family* is one dataset x ROI x method x metric: its ``K`` candidates (every model x layer)
scored in each of ``S`` subjects, ``x`` (S, K), and rescored on ``B`` resamples shared by every
candidate, ``R`` (S, B, K): for RSA the same stimuli drawn for every subject (the RSA stores' own
bootstrap samples where every store drew the same stimuli, as in a study whose subjects all see
every stimulus; else the stored RDMs put in one stimulus order, sorted ids, without square
matrices, and rescored; :func:`brainalign.metrics.rsa_stats.compare_resampled`),
for encoding the voxels of each subject (mean over drawn voxels of the per-voxel score; voxels
are not shared across subjects). With them (:mod:`brainalign.metrics.paired`):

* ``paired.csv``: every pair of candidates of a family, the group difference
  ``Delta = mean_s (x_a - x_b)`` with percentile intervals over the shared resamples
  (``stimuli`` or ``voxels``), over subjects, and over both (the two-factor bootstrap, subjects
  and resamples drawn together), the sign-flip p-value over subjects, and ``indistinguishable``:
  the decisive interval (both factors with 2 or more subjects, else the resamples) contains 0;
* ``recovery.csv``: per subject, the best layer against the runner-up, the interval of their
  difference over that subject's resamples;
* ``scores.zarr``: per entry, the two-factor interval of ``best - this`` in its family
  (``vs_best_low``, ``vs_best_high``), which the score-by-layer figure reads;
* ``summary.csv``: group tests of each score over subjects (:mod:`brainalign.metrics.group_stats`),
  corrected over the family layers x ROIs of one dataset x model x method x metric.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import store
from ..metrics.group_stats import group_tests
from ..metrics.paired import (indistinguishable, percentile_interval, sign_flip_p, subject_resamples,
                              two_factor_samples)
from ..metrics.rsa_compare import compare
from ..metrics.rsa_stats import _resampled_scores
from ._rsa_settings import metric_name

DEFAULTS = {"n_bootstrap": 1000, "n_permutations": 10000, "ci": 0.95}
GROUP_COLUMNS = ["group_mean", "group_t", "group_p_t", "group_p_sign_flip", "group_p_fdr", "group_p_max"]
PAIRED_COLUMNS = ["dataset", "roi", "method", "metric", "model_a", "layer_a", "model_b", "layer_b", "n_subjects",
                  "difference", "resampled", "resampled_low", "resampled_high", "subjects_low", "subjects_high",
                  "both_low", "both_high", "p_sign_flip", "decided_by", "indistinguishable"]


@dataclass
class Family:
    """One dataset x ROI x method x metric (module docstring)."""
    dataset: str
    roi: str
    method: str
    metric: str
    candidates: list[tuple[str, str]]  # (model, layer)
    subjects: list[str]
    x: np.ndarray          # (S, K)
    resampled: np.ndarray  # (S, B, K); B = 0 when the scores cannot be resampled
    factor: str            # what the resamples draw: "stimuli" or "voxels"


# ----------------------------------------------------------------------------------- loading
def _rsa_stores(paths) -> dict[str, dict[str, dict[str, object]]]:
    """dataset -> subject -> model -> (the store, lazily: RDMs are read only where needed; params)."""
    out: dict = {}
    for path in paths:
        params = store.read_provenance(path)["params"]
        ds = store.open_dataset(path)
        ds = ds.assign_coords(stimulus_id=ds.stimulus_id.load())
        out.setdefault(params["dataset"], {}).setdefault(params["subject"], {})[params["model"]] = (ds, params)
    return out


def _stored_resamples_shared(subjects) -> bool:
    """Whether every RSA store of a dataset holds the same stimuli in the same order and drew the
    same stimuli in each bootstrap sample (the RSA stage draws them from the seed and the stimulus
    count alone): their stored samples are then paired across every candidate and subject, and
    are used as they are instead of rescoring the RDMs."""
    stores = [ds for models in subjects.values() for ds, _ in models.values()]
    first, draws = stores[0], stores[0].bootstrap_stimuli.values
    return all(np.array_equal(ds.stimulus_id.values, first.stimulus_id.values)
               and np.array_equal(ds.bootstrap_stimuli.values, draws) for ds in stores[1:])


def stored_rsa_families(dataset: str, subjects, n_bootstrap: int) -> list[Family]:
    """RSA families from the scores and bootstrap samples the RSA stores hold (at most
    ``n_bootstrap`` samples), when :func:`_stored_resamples_shared`: nothing is rescored, so the
    cost does not grow with the number of stimuli pairs."""
    names = sorted(subjects)
    models = sorted(subjects[names[0]])
    first, params = subjects[names[0]][models[0]]
    candidates = [(m, layer) for m in models for layer in subjects[names[0]][m][0].layer.values.astype(str)]
    rois = sorted(set.intersection(*(set(m[models[0]][0].roi.values.astype(str)) for m in subjects.values())))
    families = []
    for roi in rois:
        x = np.array([np.concatenate([subjects[s][m][0].score.sel(roi=roi).values for m in models]) for s in names])
        resampled = np.array([np.concatenate([subjects[s][m][0].score_bootstrap.sel(roi=roi).values[:n_bootstrap]
                                              for m in models], axis=1) for s in names])
        families.append(Family(dataset, roi, "rsa", metric_name(params), candidates, names, x, resampled, "stimuli"))
    return families


def rsa_families(paths, n_bootstrap: int, seed) -> list[Family]:
    """RSA families from the RSA stores (module docstring): their own bootstrap samples where every
    store drew the same stimuli (:func:`stored_rsa_families`), else the stimuli common to every
    subject drawn once per dataset and every RDM rescored on them."""
    families = []
    for d, (dataset, subjects) in enumerate(sorted(_rsa_stores(paths).items())):
        if _stored_resamples_shared(subjects):
            families += stored_rsa_families(dataset, subjects, n_bootstrap)
            continue
        names = sorted(subjects)
        first_models = subjects[names[0]]
        models = sorted(first_models)
        ids = sorted(set.intersection(*(set(ds.stimulus_id.values.astype(str)) for m in subjects.values()
                                        for ds, _ in m.values())))
        params = next(iter(first_models.values()))[1]
        method, power = params["comparator"], 2 if params.get("squared") else 1
        draws = (np.zeros((0, len(ids)), dtype=int) if method.startswith("whitened") else
                 np.random.default_rng([seed, d]).integers(0, len(ids), size=(n_bootstrap, len(ids))))
        layers = {m: first_models[m][0].layer.values.astype(str) for m in models}
        candidates = [(m, layer) for m in models for layer in layers[m]]
        rois = sorted(set.intersection(*(set(m[models[0]][0].roi.values.astype(str)) for m in subjects.values())))
        pairs = {s: condensed_positions(subjects[s][models[0]][0].stimulus_id.values.astype(str), ids)
                 for s in names}  # one stimulus order per subject, shared by its models
        model_rdms = [np.concatenate([subjects[s][m][0].model_rdm.isel(pair=pairs[s]).values for m in models])
                      for s in names]
        for roi in rois:
            data = [subjects[s][models[0]][0].brain_rdm.sel(roi=roi).isel(pair=pairs[s]).values for s in names]
            families.append(rsa_family(Family(dataset, roi, "rsa", metric_name(params), candidates, names,
                                              np.zeros(0), np.zeros(0), "stimuli"),
                                       data, model_rdms, method, power, draws))
    return families


def condensed_positions(order, ids) -> np.ndarray:
    """Index into a condensed RDM over stimuli ``order`` of each pair of ``ids`` (a subset of
    ``order``), in scipy's pair order over ``ids``: the RDM re-ordered without its square form."""
    position = {s: k for k, s in enumerate(np.asarray(order).tolist())}
    p = np.array([position[s] for s in ids], dtype=np.int64)
    a, b = np.triu_indices(len(ids), 1)
    lo, hi = np.minimum(p[a], p[b]), np.maximum(p[a], p[b])
    n = len(position)
    return n * lo - lo * (lo + 1) // 2 + hi - lo - 1


def rsa_family(family: Family, data_rdms, model_rdms, method: str, power: int, draws: np.ndarray) -> Family:
    """``family`` with its scores ``x`` and resampled scores: subject ``s``'s RDM ``data_rdms[s]``
    (p,) against each candidate's ``model_rdms[s]`` (K, p) by ``method``, to the power ``power``
    (2: squared), on every stimulus sample of ``draws`` (B, n)."""
    n = int(draws.shape[1]) if draws.size else 0
    x, resampled = [], []
    for data, models in zip(data_rdms, model_rdms):
        data, models = np.asarray(data, np.float64), np.asarray(models, np.float64)
        x.append(compare(models, data, method) ** power)
        resampled.append(_resampled_scores(models, data, draws, n, method, None) ** power if len(draws)
                         else np.zeros((0, models.shape[0])))
    family.x, family.resampled = np.array(x), np.array(resampled)
    return family


def encoding_families(paths, n_bootstrap: int, seed) -> list[Family]:
    """Encoding families (Pearson r and R²) from the encoding stores: voxels drawn per subject
    and ROI, the same draws for every model and layer."""
    per: dict = {}
    for path in paths:
        params = store.read_provenance(path)["params"]
        for roi in store.group_names(path):
            ds = store.open_dataset(path, group=roi)
            for metric, var in (("pearson_r", "r"), ("r2", "r2")):
                values = ds[var].mean("fold").values  # (layer, unit)
                key = (params["dataset"], roi, metric)
                per.setdefault(key, {}).setdefault(params["subject"], {})[params["model"]] = (
                    ds.layer.values.astype(str), values)
    families = []
    for f, ((dataset, roi, metric), subjects) in enumerate(sorted(per.items())):
        names = sorted(subjects)
        models = sorted(subjects[names[0]])
        candidates = [(m, layer) for m in models for layer in subjects[names[0]][m][0]]
        x = np.empty((len(names), len(candidates)))
        resampled = np.empty((len(names), n_bootstrap, len(candidates)))
        for s, subject in enumerate(names):
            values = np.concatenate([subjects[subject][m][1] for m in models])  # (K, units)
            draws = np.random.default_rng([seed, f, s]).integers(0, values.shape[1], (n_bootstrap, values.shape[1]))
            x[s] = np.nanmean(values, axis=1)
            resampled[s] = np.stack([np.nanmean(values[:, b], axis=1) for b in draws])
        families.append(Family(dataset, roi, "encoding", metric, candidates, names, x, resampled, "voxels"))
    return families


# ----------------------------------------------------------------------------------- paired
def paired_table(families: list[Family], *, n_bootstrap: int, n_permutations: int, ci: float,
                 seed) -> pd.DataFrame:
    """``paired.csv``: every pair of candidates of every family (module docstring)."""
    rows = []
    for f, fam in enumerate(families):
        n_subjects = len(fam.subjects)
        draws = subject_resamples(n_subjects, n_bootstrap, [seed, f, 1])
        resampled_draws = fam.resampled.shape[1]
        both = (two_factor_samples(fam.resampled, draws[:resampled_draws])
                if resampled_draws and n_subjects >= 2 else np.zeros((0, len(fam.candidates))))
        by_subjects = fam.x[draws].mean(axis=1) if n_subjects >= 2 else np.zeros((0, len(fam.candidates)))
        group_resampled = fam.resampled.mean(axis=0)  # (B, K)
        for a, b in itertools.combinations(range(len(fam.candidates)), 2):
            diff = fam.x[:, a] - fam.x[:, b]
            r_low, r_high = percentile_interval(group_resampled[:, a] - group_resampled[:, b], ci)
            s_low, s_high = percentile_interval(by_subjects[:, a] - by_subjects[:, b], ci)
            b_low, b_high = percentile_interval(both[:, a] - both[:, b], ci)
            decided_by, low, high = (("both", b_low, b_high) if len(both) else
                                     (fam.factor, r_low, r_high) if resampled_draws else ("subjects", s_low, s_high))
            rows.append(dict(dataset=fam.dataset, roi=fam.roi, method=fam.method, metric=fam.metric,
                             model_a=fam.candidates[a][0], layer_a=fam.candidates[a][1],
                             model_b=fam.candidates[b][0], layer_b=fam.candidates[b][1], n_subjects=n_subjects,
                             difference=float(diff.mean()), resampled=fam.factor,
                             resampled_low=r_low, resampled_high=r_high, subjects_low=s_low, subjects_high=s_high,
                             both_low=b_low, both_high=b_high,
                             p_sign_flip=float(sign_flip_p(diff, n_permutations, [seed, f, 2]))
                             if n_subjects >= 2 else np.nan,
                             decided_by=decided_by, indistinguishable=bool(indistinguishable(low, high))))
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)


def vs_best(families: list[Family], *, n_bootstrap: int, ci: float, seed) -> dict[tuple, tuple[float, float]]:
    """(dataset, roi, method, metric, model, layer) -> interval of ``best - this`` over subjects and
    resamples together (the decisive interval of :func:`paired_table`), best by group mean."""
    out = {}
    for f, fam in enumerate(families):
        best = int(np.nanargmax(fam.x.mean(axis=0)))
        if len(fam.subjects) >= 2 and fam.resampled.shape[1]:
            draws = subject_resamples(len(fam.subjects), n_bootstrap, [seed, f, 1])[:fam.resampled.shape[1]]
            samples = two_factor_samples(fam.resampled, draws)
        else:
            samples = fam.resampled.mean(axis=0)
        low, high = percentile_interval(samples[:, [best]] - samples, ci)
        for k, (model, layer) in enumerate(fam.candidates):
            out[fam.dataset, fam.roi, fam.method, fam.metric, model, layer] = (float(low[k]), float(high[k]))
    return out


def recovery_intervals(recovery: pd.DataFrame, families: list[Family], ci: float) -> pd.DataFrame:
    """``recovery.csv`` with the runner-up and the interval of best - runner-up over that subject's
    resamples (stimuli for RSA, voxels for encoding), and ``indistinguishable``."""
    index = {(f.dataset, f.roi, f.method): f for f in families if f.metric != "r2"}  # recovery's ranking
    extra = []
    for row in recovery.itertuples():
        fam = index.get((row.dataset, row.roi, row.method))
        if fam is None or row.subject not in fam.subjects or len(fam.candidates) < 2:
            extra.append(dict(runner_up_model="", runner_up_layer="", margin_low=np.nan, margin_high=np.nan,
                              indistinguishable=True))
            continue
        s = fam.subjects.index(row.subject)
        order = np.argsort(-fam.x[s], kind="stable")
        best, second = int(order[0]), int(order[1])
        low, high = percentile_interval(fam.resampled[s, :, best] - fam.resampled[s, :, second], ci)
        extra.append(dict(runner_up_model=fam.candidates[second][0], runner_up_layer=fam.candidates[second][1],
                          margin_low=float(low), margin_high=float(high),
                          indistinguishable=bool(indistinguishable(low, high))))
    columns = ["runner_up_model", "runner_up_layer", "margin_low", "margin_high", "indistinguishable"]
    return recovery.reset_index(drop=True).join(pd.DataFrame(extra, columns=columns))


# ----------------------------------------------------------------------------------- group level
def group_columns(summary: pd.DataFrame, *, n_permutations: int, seed) -> pd.DataFrame:
    """:data:`GROUP_COLUMNS` for every encoding and RSA row of ``summary`` (NaN for the others): the
    tests of its score over the dataset's subjects, corrected over layers x ROIs of its dataset x
    model x method x metric."""
    out = pd.DataFrame(np.nan, index=summary.index, columns=GROUP_COLUMNS)
    scored = summary[summary.method.isin(["encoding", "rsa"])]
    for f, (_, part) in enumerate(scored.groupby(["dataset", "model", "method", "metric"], sort=True)):
        wide = part.pivot_table(index=["roi", "layer"], columns="subject", values="score", aggfunc="first")
        tests = group_tests(wide.to_numpy(), n_permutations=n_permutations, seed=[seed, f])
        values = pd.DataFrame({f"group_{k}": v for k, v in tests.items()}, index=wide.index)
        keys = pd.MultiIndex.from_frame(part[["roi", "layer"]])
        out.loc[part.index, GROUP_COLUMNS] = values.reindex(keys)[GROUP_COLUMNS].to_numpy()
    return out
