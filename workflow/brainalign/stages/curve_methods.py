"""The scores a sample-size curve recomputes on a subset of the stimuli: one class per method.

A method is built once per curve job from its input stores (read through :mod:`brainalign.store`,
which verifies them) and then scores any subset of its stimuli. Every method has

* ``stimulus_ids`` (N,): the stimuli subsets are drawn from, in the order of the rows indices;
* ``entries``: coordinate name -> one label per entry (the scores of one evaluation, flattened:
  ``roi``, ``model``, ``layer``, ``target_model``, ``target_layer``, ``metric`` where they apply);
* ``has_bootstrap``: whether the score has a resampling of its own;
* ``evaluate(rows, n_bootstrap, seed) -> (scores (entry,), bootstrap (n_bootstrap, entry))``:
  the scores on the stimuli ``rows`` (ascending indices into ``stimulus_ids``).
  A subset the method cannot score (an encoding subset whose stimuli were all shown in too few
  runs to cross-validate) raises :class:`SubsetError`.

A new method (e.g. behaviour) is one more class and one entry in :data:`METHODS`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from .. import store
from ..metrics.sample_size import sub_rdm
from ..metrics.similarity import ASYMMETRIC, similarity
from ._align import UnitReader, layer_rows, return_large_blocks, rows_for, scaled_features, stimulus_codes
from ._rsa_settings import layer_rdm, metric_name, score_rdms
from .encoding import Design, LayerFit, encode_roi, load_rois
from .roi_rdms import RdmSpill, brain_rdms
from .similarity import load_representations


class SubsetError(ValueError):
    """A subset of the stimuli that the method cannot score; the message says why."""


class SimilarityCurve:
    """Model-model similarity (every metric of the ``similarity`` section) of every pair of layers
    of the models that see one stimulus set: each unordered pair of distinct layers, both orders for
    the asymmetric metrics (:data:`brainalign.metrics.similarity.ASYMMETRIC`). No bootstrap."""

    has_bootstrap = False

    def __init__(self, settings: dict, *, features: dict, brain=None, scratch: Path | None = None):
        self.reps, names = load_representations(features)
        first = store.open_dataset(next(iter(features.values())), group=names[0][1])
        self.stimulus_ids = first.stimulus_id.values.astype(str)
        keys = list(self.reps)
        self.pairs = [(metric, a, b) for metric in settings["metrics"] for a in range(len(keys))
                      for b in range(len(keys)) if a != b and (a < b or metric in ASYMMETRIC)]
        self.keys = keys
        self.entries = {"metric": [m for m, _, _ in self.pairs],
                        "model": [names[a][0] for _, a, _ in self.pairs],
                        "layer": [names[a][1] for _, a, _ in self.pairs],
                        "target_model": [names[b][0] for _, _, b in self.pairs],
                        "target_layer": [names[b][1] for _, _, b in self.pairs]}

    def evaluate(self, rows: np.ndarray, n_bootstrap: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        subset = {k: self.reps[k][rows] for k in self.keys}
        scores = np.array([similarity(subset[self.keys[a]], subset[self.keys[b]], metric)
                           for metric, a, b in self.pairs])
        return scores, np.zeros((0, len(scores)))


class RsaCurve:
    """RSA (the ``rsa`` section's settings) of every layer of one model with every ROI of one
    subject. Each RDM is computed once on all stimuli (as the ``rsa`` stage does, kept in scratch
    files) and a subset's RDM is its sub-matrix (:func:`brainalign.metrics.sample_size.sub_rdm`):
    exactly the RDM of the subset for the pattern distances; with ``standardize``, Mahalanobis or
    crossnobis, the units' z-scores and the noise precision come from all stimuli. Bootstrap over
    the subset's stimuli, as the stage's; none for the whitened comparators."""

    def __init__(self, settings: dict, *, features: dict, brain, scratch: Path):
        self.spec = settings
        (model, path), = features.items()
        brain_spill, model_spill = RdmSpill(scratch, "brain"), RdmSpill(scratch, "model")
        self.rois, _, order, _ = brain_rdms(brain, settings, brain_spill)
        self.layers = store.layer_names(path)
        for layer in self.layers:
            model_spill.add(layer_rdm(layer_rows(path, layer, order), settings))
        self.paths = {"brain": brain_spill.paths, "model": model_spill.paths}
        self.stimulus_ids = np.asarray(order).astype(str)
        self.has_bootstrap = not settings["comparator"].startswith("whitened")
        self.entries = {"roi": [r for r in self.rois for _ in self.layers],
                        "model": [model] * (len(self.rois) * len(self.layers)),
                        "layer": list(self.layers) * len(self.rois),
                        "metric": [metric_name(settings)] * (len(self.rois) * len(self.layers))}

    def evaluate(self, rows: np.ndarray, n_bootstrap: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        n_total = len(self.stimulus_ids)
        models = np.stack([sub_rdm(np.load(p, mmap_mode="r"), rows, n_total) for p in self.paths["model"]])
        spec = {**self.spec, "n_bootstrap": n_bootstrap}
        scores, boots = [], []
        for path in self.paths["brain"]:
            score, boot, _ = score_rdms(models, sub_rdm(np.load(path, mmap_mode="r"), rows, n_total), spec, seed)
            scores.append(score)
            boots.append(boot if len(boot) else np.zeros((n_bootstrap if self.has_bootstrap else 0, len(score))))
        return np.concatenate(scores), np.concatenate(boots, axis=1)


class EncodingCurve:
    """Cross-validated ridge encoding (the ``encoding`` section's settings, with the stage's
    :class:`~brainalign.stages.encoding.Design` and :class:`~brainalign.stages.encoding.LayerFit`)
    of every layer of one model, per ROI of one subject, on the trials of a subset's stimuli.
    Scores as the summary's: ``pearson_r`` and ``r2``, the mean over voxels of each voxel's mean
    over folds; bootstrap over voxels. Features are scaled once on all stimuli
    (:func:`._align.scaled_features`); voxels are read ``encoding.UNIT_CHUNK`` at a time."""

    has_bootstrap = True
    METRICS = (("pearson_r", "r"), ("r2", "r2"))

    def __init__(self, settings: dict, *, features: dict, brain, scratch: Path | None = None):
        return_large_blocks()
        self.spec, self.brain = settings, brain
        (model, path), = features.items()
        self.rois = {roi: ds for roi, (ds, _) in load_rois(brain, None).items()}
        first = next(iter(self.rois.values()))
        self.trials = xr.Dataset(coords={c: first[c].variable for c in first.coords
                                         if first[c].dims == ("trial",)}).load()
        self.stimulus_ids, self.codes = stimulus_codes(self.trials.stimulus_id.values)
        self.layers = store.layer_names(path)
        self.features = {}
        for layer in self.layers:
            feats = store.open_dataset(path, group=layer)
            self.features[layer] = scaled_features(feats.features.values)[
                rows_for(self.stimulus_ids, feats, where=str(path))]  # row k: stimulus_ids[k]
        self.entries = {key: [] for key in ("roi", "model", "layer", "metric")}
        for roi in self.rois:
            for metric, _ in self.METRICS:
                for layer in self.layers:
                    for key, value in (("roi", roi), ("model", model), ("layer", layer), ("metric", metric)):
                        self.entries[key].append(value)

    def evaluate(self, rows: np.ndarray, n_bootstrap: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        trials = np.flatnonzero(np.isin(self.codes, rows))
        where = f"{self.brain} (trials of {len(rows)} stimuli)"
        try:
            design = Design(self.spec, self.trials.isel(trial=trials), where=where)
        except ValueError as err:  # e.g. the subset's trials fall in too few runs for the folds
            raise SubsetError(str(err)) from None
        fits = {layer: LayerFit(x[self.codes[trials]], design, self.spec) for layer, x in self.features.items()}
        rng = np.random.default_rng(seed)
        scores, boots = [], []
        for roi in self.rois:
            results = encode_roi(UnitReader(self.brain, roi, trials=trials), fits)
            n_units = next(iter(results.values()))["r"].shape[1]
            resample = rng.integers(0, n_units, size=(n_bootstrap, n_units))
            with warnings.catch_warnings():  # a voxel NaN in every fold (a constant test set) stays NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                for _, var in self.METRICS:
                    for layer in self.layers:
                        per_voxel = np.nanmean(results[layer][var], axis=0)  # as xarray's mean over folds
                        scores.append(np.nanmean(per_voxel))
                        boots.append(np.nanmean(per_voxel[resample], axis=1))
        return np.array(scores), np.stack(boots, axis=1)


METHODS = {"similarity": SimilarityCurve, "rsa": RsaCurve, "encoding": EncodingCurve}
"""Method name (``curves.methods``) -> the class that scores subsets."""
