"""Stage ``encoding``: cross-validated ridge encoding of every layer of one model, per ROI.

For each ROI of a brain store and each layer of a features store, the trial betas ``Y``
(trial, unit) are predicted from the features of each trial's stimulus (scaled as in
:func:`._align.scaled_features`). The outer split (``outer_split``) is leave-one-group-out
(the default), ``GroupKFold(outer_folds)``, or one held-out test set: the trials whose trial
coordinate ``test_subset.column`` equals ``test_subset.value`` (e.g. NSD's shared images).
Groups are the trials' ``group_by`` coordinate (``run`` by default, or ``session``). Each
voxel's alpha is chosen by ``GroupKFold(inner_folds)`` over the groups of the training trials;
the refit on all training trials is scored on the test trials (``test_trials: each``) or on the
test stimuli's mean over their test trials (``average``, NSD's convention) by Pearson r and R²
per voxel. Every fold, voxel and layer is stored: ``r``, ``r2``, ``alpha`` (layer, fold, unit)
in one group per ROI.

Layers with fewer features than half the smallest training set (and studies of at least
``MOMENT_MIN_TRIALS`` trials) use
:mod:`brainalign.metrics.ridge_moments`: every (outer fold, inner fold) is decomposed once per
layer and shared by every ROI and voxel chunk, and every test trial's score (``test_trials: each``)
comes from the test blocks' moments without forming predictions. Wider layers use the trial-level solver of
:mod:`brainalign.metrics.ridge` per chunk. Voxels are read from the brain store ``UNIT_CHUNK``
at a time, so memory does not grow with the voxel count.

With ``part="k/n"`` only the voxel chunks ``[k * c // n, (k + 1) * c // n)`` of the ``c`` chunks
of each ROI are encoded (a ROI with none in that part is left out); :mod:`.gather` joins the ``n``
parts into the store the unsplit run writes. Voxels are fitted independently (each one's alpha,
fit and scores use its own column of ``Y`` only), and a part's chunks are the unsplit run's
chunks, fitted by matrix products of the same shapes: the parts hold exactly the unsplit run's
values (at the same BLAS thread count), even with a BLAS whose rounding of a column depends on
the width of the product (OpenBLAS's Haswell kernels).

With ``noise`` in ``spec`` (a ``noise`` dataset, :mod:`brainalign.sweeps`), Gaussian noise of the
stated SNR is added to every layer's features or to the betas as they are read
(:mod:`brainalign.added_noise`; per unit, the same in every part).
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from .. import store
from ..added_noise import noise_for
from ..progress import progress
from ..metrics.backend import get_backend
from ..metrics.cv_splits import make_splits, outer_splits
from ..metrics.regression_scores import column_pearson_r, column_r2
from ..metrics.ridge import ridge_cv_scores
from ..metrics.ridge_checks import check_alphas
from ..metrics.ridge_moments import FeatureMoments, MomentFold, TargetMoments
from ..metrics.ridge_solver import CentredSpectrum, refit_dual, select_best
from ._align import (UnitReader, averaging_sums, return_large_blocks, rows_for, scaled_features, stimulus_codes,
                     trial_mask)

log = logging.getLogger(__name__)
# per-unit labels carried over from the brain store (the voxel's noise ceiling among them)
UNIT_COORDS = ("i", "j", "k", "x", "y", "z", "ch_name", "ch_type", "noise_ceiling")
UNIT_CHUNK = store.UNIT_BLOCK  # voxels read and fitted at once: one stored chunk wide
MOMENT_MAX_FEATURES = 2048
MOMENT_MIN_TRIALS = 1000  # below, every solver is fast and the trial-level one keeps small studies' numbers


class Design:
    """The trials' groups, the outer folds and their inner folds, and each fold's test rows."""

    def __init__(self, spec: dict, trials: xr.Dataset, *, where: str):
        group_by = spec.get("group_by", "run")
        if group_by not in trials.coords:
            raise ValueError(f"{where}: encoding.group_by {group_by!r} is no trial coordinate")
        labels = trials[group_by].values.astype(str)
        self.runs = trials.run.values.astype(str)
        self.stimulus_ids = trials.stimulus_id.values.astype(str)
        kind = spec.get("outer_split", "leave_one_group_out")
        test = None
        if kind == "held_out":
            test = trial_mask(trials, spec.get("test_subset"), where=where)
            if test is None:
                raise ValueError(f"{where}: encoding.outer_split 'held_out' needs encoding.test_subset")
        self.outer = outer_splits(kind, labels, folds=spec.get("outer_folds"), test=test)
        _, self.group = np.unique(labels, return_inverse=True)
        self.n_blocks = int(self.group.max()) + 1
        self.block = self.group.copy()  # moment blocks: the groups, and held-out test trials in one more
        if test is not None:
            self.block[test] = self.n_blocks
            self.n_blocks += 1
        self.inner = []
        for train, _ in self.outer:
            splits = make_splits(spec["inner_folds"], len(train), self.group[train])
            self.inner.append([(np.unique(self.group[train][t]), np.unique(self.group[train][v]))
                               for t, v in splits])
        self.average = spec.get("test_trials", "each") == "average"
        self.test_rows, self.test_sums = [], []
        for _, test_idx in self.outer:
            if self.average:
                order, codes = stimulus_codes(self.stimulus_ids[test_idx])
                first = np.array([np.flatnonzero(codes == c)[0] for c in range(len(order))])
                self.test_rows.append(test_idx[first])
                self.test_sums.append((averaging_sums(codes, len(order)),
                                       np.bincount(codes)[:, None]))
            else:
                self.test_rows.append(test_idx)
                self.test_sums.append(None)

    def fold_labels(self) -> list[str]:
        """The runs of each fold's test trials, comma-joined in order of appearance."""
        return [",".join(dict.fromkeys(self.runs[test])) for _, test in self.outer]

    def test_targets(self, fold: int, Y: np.ndarray) -> np.ndarray:
        """The test rows of ``Y`` for fold ``fold``: its trials, or their per-stimulus means."""
        test = self.outer[fold][1]
        if self.test_sums[fold] is None:
            return Y[test]
        sums, counts = self.test_sums[fold]
        return (sums @ np.asarray(Y[test], dtype=np.float64)) / counts


class LayerFit:
    """One layer's features and its decompositions, reused by every ROI and voxel chunk."""

    def __init__(self, X: np.ndarray, design: Design, spec: dict):
        self.X, self.design, self.spec = X, design, spec
        self.alphas = check_alphas(spec["alphas"])
        smallest = min(len(train) for train, _ in design.outer)
        self.moments = (X.shape[1] <= MOMENT_MAX_FEATURES and 2 * X.shape[1] < smallest
                        and X.shape[0] >= MOMENT_MIN_TRIALS)
        if self.moments:
            features = FeatureMoments(X, design.block, design.n_blocks)
            self.folds = [MomentFold(features, np.unique(design.block[train]), inner, np.unique(design.block[test]))
                          for (train, test), inner in zip(design.outer, design.inner)]

    def scores(self, Y: np.ndarray) -> dict:
        """``r``, ``r2``, ``alpha`` (fold, unit) for the betas ``Y`` (trial, unit) of a chunk."""
        n_folds = len(self.design.outer)
        out = {key: np.empty((n_folds, Y.shape[1])) for key in ("r", "r2", "alpha")}
        targets = (TargetMoments(self.X, Y, self.design.block, self.design.n_blocks)
                   if self.moments else None)
        xp = get_backend(self.spec["backend"])
        for f, (train, _) in enumerate(self.design.outer):
            test_features = self.X[self.design.test_rows[f]] if not self.moments or self.design.average else None
            if not self.moments:
                alpha, prediction = self._trial_level(Y, train, test_features, xp)
                scores = self._prediction_scores(f, Y, prediction, xp)
            else:
                alpha = self.folds[f].best_alphas(targets, self.alphas)
                if self.design.average:
                    prediction = self.folds[f].predict(targets, alpha, test_features)
                    scores = self._prediction_scores(f, Y, prediction, xp)
                else:  # each test trial: from the test blocks' moments, no prediction formed
                    scores = self.folds[f].test.scores(targets, alpha)
            out["alpha"][f] = alpha
            out["r"][f], out["r2"][f] = scores
        return out

    def _prediction_scores(self, fold: int, Y, prediction, xp) -> tuple[np.ndarray, np.ndarray]:
        """Pearson r and R² of ``prediction`` against fold ``fold``'s test targets."""
        y_test = self.design.test_targets(fold, Y)
        return column_pearson_r(y_test, prediction, xp), column_r2(y_test, prediction, xp)

    def _trial_level(self, Y, train, X_test, xp):
        """Alpha by inner CV and test predictions from the trial-level solver (wide layers)."""
        batch = self.spec.get("target_batch_size", 4096)
        inner = ridge_cv_scores(self.X, Y, self.alphas, self.spec["inner_folds"], self.design.group, train,
                                xp=xp, solver="auto", batch_size=batch)
        alpha = self.alphas[select_best(inner, np.log(self.alphas))]
        spectrum = CentredSpectrum(xp.asarray(self.X[train]), "auto", xp)
        projection = spectrum.project(xp.asarray(X_test))
        prediction = np.empty((X_test.shape[0], Y.shape[1]), dtype=self.X.dtype)
        for cols, y_mean, coef_dual in refit_dual(spectrum, Y, train, alpha, Y.shape[1], xp=xp,
                                                  dtype=self.X.dtype, batch_size=batch):
            prediction[:, cols] = xp.to_numpy(projection @ coef_dual + y_mean)
        return alpha, prediction


def roi_scores(brain: xr.Dataset, results: dict[str, dict], folds: list[str]) -> xr.Dataset:
    """Stack the per-layer results of one ROI as ``r``, ``r2``, ``alpha`` (layer, fold, unit)."""
    data = {key: (("layer", "fold", "unit"), np.stack([res[key] for res in results.values()]).astype(np.float32))
            for key in ("r", "r2", "alpha")}
    coords = {"layer": list(results), "test_run": ("fold", folds),
              **{c: ("unit", brain[c].values, brain[c].attrs)  # values only: no storage encoding
                 for c in UNIT_COORDS if c in brain.variables}}
    ds = xr.Dataset(data, coords=coords)
    ds["r"].attrs["description"] = "Pearson r between held-out betas and predictions, per outer fold"
    ds["r2"].attrs["description"] = "R² = 1 - SS_res / SS_tot on the held-out trials (negative: worse than their mean)"
    ds["alpha"].attrs["description"] = "ridge penalty chosen by cross-validation within the training trials"
    return ds


def unit_range(part: str, n_units: int) -> slice:
    """Units of part ``"k/n"`` (k = 0 .. n-1) of ``n_units``: whole chunks of ``UNIT_CHUNK``, the
    chunks ``[k * c // n, (k+1) * c // n)`` of the ``c = ceil(n_units / UNIT_CHUNK)`` (empty for
    some parts when ``c < n``)."""
    k, sep, n = part.partition("/")
    if not (sep and k.isdigit() and n.isdigit() and int(k) < int(n)):
        raise ValueError(f"part must be 'k/n' with 0 <= k < n, got {part!r}")
    k, n = int(k), int(n)
    chunks = -(-n_units // UNIT_CHUNK)
    return slice(min(k * chunks // n * UNIT_CHUNK, n_units), min((k + 1) * chunks // n * UNIT_CHUNK, n_units))


def load_rois(brain, part: str | None, spec: dict | None = None) -> dict[str, tuple[xr.Dataset, UnitReader]]:
    """Every ROI of a brain store, lazily, with a reader of its betas (only the units of
    ``part``, if given; empty parts dropped; with the noise ``spec`` adds to betas, if any)."""
    rois, spec = {}, spec or {}
    for roi in store.group_names(brain):
        ds = store.open_dataset(brain, group=roi)
        units = slice(None) if part is None else unit_range(part, ds.sizes["unit"])
        ds = ds.isel(unit=units)
        if ds.sizes["unit"]:
            noise = noise_for(spec, "betas", f"{spec.get('subject', '')}/{roi}")
            rois[roi] = ds, UnitReader(brain, roi, units, noise=noise)
    return rois


def encode_roi(betas: UnitReader, fits: dict[str, LayerFit]) -> dict[str, dict]:
    """Scores of every layer for one ROI, its voxels read ``UNIT_CHUNK`` at a time."""
    n_units = betas.shape[1]
    n_folds = len(next(iter(fits.values())).design.outer)
    results = {layer: {key: np.empty((n_folds, n_units)) for key in ("r", "r2", "alpha")} for layer in fits}
    for start in range(0, n_units, UNIT_CHUNK):
        cols = slice(start, min(start + UNIT_CHUNK, n_units))
        Y = np.asarray(betas[:, cols], dtype=np.float32)
        for layer, fit in fits.items():
            for key, value in fit.scores(Y).items():
                results[layer][key][:, cols] = value
    return results


def run(spec: dict, *, brain, features, out, seed: int, part: str | None = None) -> None:
    """Encode every ROI of ``brain`` (units of ``part`` only, if given) from every layer of
    ``features``; write ``out``."""
    labels = {k: spec[k] for k in ("dataset", "subject", "model") if k in spec}
    return_large_blocks()  # peak memory: the data, not the allocator's cache
    rois = load_rois(brain, part, spec)
    groups = {}
    if rois:  # a part may hold no unit of any ROI
        groups = encode_rois(spec, rois, brain=brain, features=features, labels=labels)
    params = spec if part is None else {**spec, "part": part}
    store.write_tree(out, groups, stage="encoding", params=params, inputs=[brain, features], seed=seed,
                     root=xr.Dataset(attrs=labels))


def encode_rois(spec: dict, rois: dict[str, tuple], *, brain, features, labels: dict) -> dict[str, xr.Dataset]:
    """Scores of every ROI: the design and each layer's decompositions built once, for all."""
    first = next(iter(rois.values()))[0]
    trials = xr.Dataset(coords={c: first[c].variable for c in first.coords if first[c].dims == ("trial",)}).load()
    for roi, (ds, _) in rois.items():
        if not np.array_equal(ds.stimulus_id.values, trials.stimulus_id.values):
            raise ValueError(f"{brain}: ROI {roi!r} holds other trials than the first ROI")
    design = Design(spec, trials, where=str(brain))
    fits = {}
    layers = store.layer_names(features)  # each layer is read and decomposed once, then used for every ROI
    for layer in progress(layers, desc="layers", unit="layer"):
        feats = store.open_dataset(features, group=layer)
        noise = noise_for(spec, "features", f"{spec.get('model', '')}/{layer}")
        scaled = scaled_features(feats.features.values if noise is None else noise(feats.features.values))
        fits[layer] = LayerFit(scaled[rows_for(design.stimulus_ids, feats, where=str(features))], design, spec)
    groups = {}
    for roi, (ds, betas) in progress(rois.items(), total=len(rois), desc="ROIs", unit="ROI"):
        results = encode_roi(betas, fits)
        for layer, res in results.items():
            log.info("%s %s %s: mean r = %.3f", "/".join(labels.values()), roi, layer, np.nanmean(res["r"]))
        groups[roi] = roi_scores(ds, results, design.fold_labels())
    return groups
