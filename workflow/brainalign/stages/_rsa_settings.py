"""The RSA settings of the ``rsa`` config section: the RDMs compared (each ROI's, precomputed or from
its betas, and each layer's), how they are scored, and the noise ceiling's conventions.

A ROI group of a brain store holds either single-trial ``betas`` (trial, unit) or a precomputed
``rdm`` (pair) over its ``stimulus_id`` (a ``modality: rdm`` dataset, :mod:`brainalign.stages.rdms`).
From betas, by the ``rdm`` setting:

* a pattern distance (``euclidean``, ``sqeuclidean``, ``correlation``, ``cosine``;
  :func:`~brainalign.metrics.rdm.compute_rdm`) of the stimulus means, each voxel first z-scored
  over stimuli when ``standardize`` is set;
* ``mahalanobis``: ``(m_i - m_j) L (m_i - m_j)^T / c`` of the stimulus means ``m`` with the noise
  precision ``L`` (:func:`~brainalign.metrics.noise_precision.noise_precision`: the betas'
  residuals around their stimulus means, shrunk by ``noise_shrinkage``);
* ``crossnobis``: the same distance cross-validated over partitions of the trials
  (:func:`~brainalign.metrics.rdm.crossnobis_rdm`), ``crossnobis_partition`` ``run`` (every
  stimulus must be shown in every run) or ``repeat`` (the k-th presentation of each stimulus
  forms partition k; every stimulus shown equally often, at least twice). The stimuli are then in
  sorted id order.

A layer's RDM uses the same pattern distance (its units z-scored over stimuli first when
``standardize`` is set); with ``mahalanobis`` or ``crossnobis`` (brain noise has no model
counterpart) it is the squared Euclidean distance divided by the number of units, the noise-free
value both estimate when ``L = I``.

Scores (:func:`score_rdms`): the ``comparator`` of the two RDMs, with ``n_bootstrap`` samples over
stimuli (none for the whitened comparators, whose whitening assumes distinct conditions); with
``squared`` each score and sample is ``r^2`` (Net2Brain and the Algonauts evaluation report the
mean over subjects of ``r_s^2``; the sign is lost). The noise ceiling (:func:`subject_ceilings`)
pools the subjects' RDMs by ``ceiling_pooling``: ``rank_mean`` (rsatoolbox: the pooling that
matches the comparator, the mean of ranks for Spearman and tau-a) or ``mean`` (Net2Brain,
Algonauts: the mean of the raw RDMs), squared per subject with ``squared``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..metrics.noise_precision import mahalanobis_rdm, noise_precision, standardize_units
from ..metrics.rank_bootstrap import MAX_CONDITIONS
from ..metrics.rdm import PATTERN_METHODS, crossnobis_rdm
from ..metrics.rsa import rsa_scores
from ..metrics.rsa_large import condensed_rdm
from ..metrics.rsa_stats import noise_ceiling
from ._align import stimulus_means

MIN_UNITS = {"correlation": 3}  # fewest units for which an RDM distance is informative; 1 otherwise


def too_few_units(ds: xr.Dataset, spec: dict) -> str | None:
    """Why a ROI cannot give an RDM with the ``rdm`` distance (None if it can): an ROI with fewer
    units than the distance needs, e.g. fewer than 3 voxels for the correlation distance, which
    is +-1 for any two 2-voxel patterns and undefined for 1 voxel. A precomputed RDM always can."""
    if "rdm" in ds:
        return None
    need = MIN_UNITS.get(spec["rdm"], 1)
    if ds.sizes["unit"] < need:
        return f"{ds.sizes['unit']} voxel(s): the {spec['rdm']} distance needs at least {need}"
    return None


def unit_patterns(x: np.ndarray, spec: dict) -> np.ndarray:
    """Patterns (n_stimuli, n_units) as the distance sees them: each unit z-scored over stimuli
    when ``standardize`` is set, else unchanged."""
    return standardize_units(x) if spec.get("standardize") else x


def repeat_index(ids: np.ndarray) -> np.ndarray:
    """For each trial, how many earlier trials showed the same stimulus (0 for the first)."""
    seen: dict[str, int] = {}
    out = np.empty(len(ids), dtype=int)
    for t, s in enumerate(ids.tolist()):
        out[t] = seen.get(s, 0)
        seen[s] = out[t] + 1
    return out


def _partitions(ds: xr.Dataset, ids: np.ndarray, spec: dict, where: str) -> np.ndarray:
    if spec.get("crossnobis_partition", "run") == "run":
        return ds.run.values.astype(str)
    counts = np.unique(ids, return_counts=True)[1]
    if counts.min() != counts.max() or counts.min() < 2:
        raise ValueError(f"{where}: crossnobis_partition 'repeat' needs every stimulus shown equally often, "
                         f"at least twice (shown {counts.min()} to {counts.max()} times)")
    return repeat_index(ids)


def roi_rdm(ds: xr.Dataset, spec: dict, where: str = "brain") -> tuple[np.ndarray, np.ndarray]:
    """(stimulus ids, condensed RDM) of one ROI group of a brain store (module docstring)."""
    if "rdm" in ds:
        return ds.stimulus_id.values.astype(str), ds.rdm.values
    betas, ids = ds.betas.values, ds.stimulus_id.values.astype(str)
    method = spec["rdm"]
    if method == "crossnobis":
        precision = noise_precision(betas, ids, spec.get("noise_shrinkage", "shrinkage_diag"))
        parts = _partitions(ds, ids, spec, where)
        try:
            return np.unique(ids), crossnobis_rdm(betas, runs=parts, conditions=ids, precision=precision,
                                                  dtype=np.float64)
        except ValueError as err:
            raise ValueError(f"{where}: crossnobis over {spec.get('crossnobis_partition', 'run')}s: {err} "
                             "(crossnobis_partition: repeat cross-validates over repeated presentations)") from None
    order, means = stimulus_means(betas, ids)
    if method == "mahalanobis":
        return order, mahalanobis_rdm(means, noise_precision(betas, ids, spec.get("noise_shrinkage", "shrinkage_diag")))
    return order, condensed_rdm(unit_patterns(means, spec), method)


def layer_rdm(features: np.ndarray, spec: dict) -> np.ndarray:
    """Condensed RDM of one layer's features (n_stimuli, n_units) (module docstring)."""
    x = unit_patterns(features, spec)
    if spec["rdm"] in PATTERN_METHODS:
        return condensed_rdm(x, spec["rdm"])
    return condensed_rdm(np.asarray(x, dtype=np.float64), "sqeuclidean") / x.shape[1]


def score_rdms(model_rdms: np.ndarray, data_rdm: np.ndarray, spec: dict, seed: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores (m,), bootstrap samples (B, m) and the stimuli each sample drew (B, n) of ``m``
    layer RDMs against one ROI RDM under the settings (module docstring); ``B = 0`` for the
    whitened comparators and for ``n_bootstrap`` 0."""
    whitened = spec["comparator"].startswith("whitened")
    res = rsa_scores(model_rdms, data_rdm, spec["comparator"],
                     bootstrap=None if whitened or not spec["n_bootstrap"] else "stimuli",
                     n_bootstrap=spec["n_bootstrap"], seed=seed)
    n = int(round((1 + np.sqrt(1 + 8 * data_rdm.size)) / 2))
    boot = res.get("bootstrap", np.zeros((0, model_rdms.shape[0])))
    drawn = res.get("bootstrap_samples", np.zeros((0, n), dtype=int))
    power = 2 if spec.get("squared") else 1
    return res["score"] ** power, boot ** power, drawn


def metric_name(spec: dict) -> str:
    """The summary's ``metric`` of an RSA score: the comparator, ``_r2`` appended when squared."""
    return spec["comparator"] + ("_r2" if spec.get("squared") else "")


def subject_ceilings(subject_rdms: np.ndarray, spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper noise ceiling of each subject (S,) under the settings (module docstring)."""
    nc = noise_ceiling(subject_rdms, spec["comparator"], pooling=spec.get("ceiling_pooling", "rank_mean"))
    power = 2 if spec.get("squared") else 1
    return nc.lower_per_subject ** power, nc.upper_per_subject ** power


def brain_rdm_description(spec: dict, precomputed: bool) -> str:
    """What the stored brain RDMs are, in words."""
    if precomputed:
        return "precomputed brain RDM (modality: rdm), in the stimulus set's order"
    if spec["rdm"] == "crossnobis":
        return (f"crossnobis distance over {spec.get('crossnobis_partition', 'run')}s with the noise precision of "
                f"the betas' residuals ({spec.get('noise_shrinkage', 'shrinkage_diag')}), / voxels")
    if spec["rdm"] == "mahalanobis":
        return (f"Mahalanobis distance between stimulus-averaged betas with the noise precision of the betas' "
                f"residuals ({spec.get('noise_shrinkage', 'shrinkage_diag')}), / voxels")
    return (f"{spec['rdm']} distance between stimulus-averaged betas"
            + (", each voxel z-scored over stimuli" if spec.get("standardize") else ""))


def settings_attrs(spec: dict) -> dict:
    """The settings an RSA store records as attributes (defaults filled in)."""
    return {"standardize": int(bool(spec.get("standardize"))), "squared": int(bool(spec.get("squared"))),
            "ceiling_pooling": spec.get("ceiling_pooling", "rank_mean"), "metric": metric_name(spec)}


def counts_ranks(spec: dict, n: int) -> bool:
    """Whether RSA over ``n`` stimuli scores by counting (:mod:`brainalign.metrics.rank_bootstrap`:
    Spearman, a bootstrap, 3 to 65,536 stimuli) rather than by :func:`score_rdms` in memory."""
    return spec["comparator"] == "spearman" and bool(spec["n_bootstrap"]) and 3 <= n <= MAX_CONDITIONS
