"""First-level GLM estimates of single-trial and condition responses.

For one run with data ``Y`` (n_volumes, n_voxels) and design ``X`` (n_volumes, n_regressors),
the model is ``Y = X B + E`` with ``E`` white (``noise_model="ols"``) or AR(1) per voxel
(``"ar1"``: the AR coefficient is estimated from the OLS residuals, binned to 0.01, and the fit
is repeated on pre-whitened data). ``Y`` is first scaled to percent signal change per voxel,
``100 (y / mean_t(y) - 1)`` (``signal_scaling=0``), so a beta is the percent signal change for
a unit-height HRF-convolved regressor. Each event regressor is the event's boxcar (onset,
duration in s) convolved with ``hrf_model``; slow drifts are modelled by ``drift_model``.

Three designs (rows of the events table are trials):

* LSA (least squares all): one regressor per trial, one model per run.
* LSS (least squares separate, variant LSS-1 of Mumford et al. 2012, NeuroImage 59:2636):
  one model per trial, with one regressor for that trial and a single regressor for all other
  trials of the run; the trial's beta is kept.
* condition: one regressor per distinct stimulus value (per ``trial_type`` in a block design)
  per run; all events with that value share it.

The steps are those of :class:`nilearn.glm.first_level.FirstLevelModel` (its design matrix
function, mean scaling and :func:`nilearn.glm.first_level.run_glm`) applied to an
already-masked data matrix, so that LSS costs one GLM solve per trial rather than one
image masking per trial; the tests check the betas against ``FirstLevelModel`` itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from nilearn.glm.first_level import make_first_level_design_matrix, mean_scaling, run_glm

from ._options import options_from_dict

__all__ = [
    "GlmOptions",
    "MISSING_STIMULUS",
    "check_repetition_time",
    "check_run_length",
    "condition_betas",
    "design_matrix",
    "fit_betas",
    "lsa_betas",
    "lss_betas",
    "read_events",
]

MISSING_STIMULUS = "n/a"
_HRF_MODELS = ("glover", "spm", "glover + derivative", "spm + derivative",
               "glover + derivative + dispersion", "spm + derivative + dispersion")
_DRIFT_MODELS = ("cosine", "polynomial", None)
_NOISE_MODELS = ("ar1", "ols")


@dataclass(frozen=True)
class GlmOptions:
    """First-level GLM settings (the config keys).

    hrf_model : str
        ``"glover"`` or ``"spm"``, optionally ``" + derivative"`` (and ``" + dispersion"``);
        the derivative regressors are fitted but only the main beta is returned.
    drift_model : {"cosine", "polynomial", None}
        Drift regressors: a discrete cosine basis with cut-off ``high_pass`` (Hz), or
        polynomials up to ``drift_order``.
    high_pass : float
        Cut-off frequency (Hz) of the cosine drift basis.
    drift_order : int
        Order of the polynomial drift basis.
    noise_model : {"ar1", "ols"}
        Temporal noise model.
    signal_scaling : {0, False}
        ``0``: percent signal change per voxel (over time); ``False``: none. Scaling over voxels
        is not offered, as it would depend on which voxels an ROI holds.
    slice_time_ref : float
        Time of the volume's reference slice as a fraction of the TR (0: start; 0.5 after
        slice-timing correction to the middle slice).
    """

    hrf_model: str = "glover"
    drift_model: str | None = "cosine"
    high_pass: float = 0.01
    drift_order: int = 1
    noise_model: str = "ar1"
    signal_scaling: int | bool = 0
    slice_time_ref: float = 0.0

    def __post_init__(self):
        if self.hrf_model not in _HRF_MODELS:
            raise ValueError(f"glm hrf_model={self.hrf_model!r} must be one of {_HRF_MODELS}")
        if self.drift_model not in _DRIFT_MODELS:
            raise ValueError(f"glm drift_model={self.drift_model!r} must be one of {_DRIFT_MODELS}")
        if self.noise_model not in _NOISE_MODELS:
            raise ValueError(f"glm noise_model={self.noise_model!r} must be one of {_NOISE_MODELS}")
        if not isinstance(self.high_pass, (int, float)) or self.high_pass <= 0:
            raise ValueError(f"glm high_pass={self.high_pass!r} must be a positive frequency in Hz")
        if not isinstance(self.drift_order, int) or self.drift_order < 0:
            raise ValueError(f"glm drift_order={self.drift_order!r} must be a non-negative integer")
        if self.signal_scaling is not False and self.signal_scaling != 0:
            raise ValueError(f"glm signal_scaling={self.signal_scaling!r} must be 0 (percent signal change) or False")
        if not 0.0 <= self.slice_time_ref <= 1.0:
            raise ValueError(f"glm slice_time_ref={self.slice_time_ref!r} must lie in [0, 1]")

    @classmethod
    def from_dict(cls, options: dict | None) -> GlmOptions:
        """Options from a config mapping; an unknown key is an error that names it."""
        return options_from_dict(cls, options, "glm")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def beta_units(self) -> str:
        return "percent signal change" if self.signal_scaling is not False else "image intensity"


# ----------------------------------------------------------------------------- checks
def read_events(path: str | Path, stimulus_column: str = "stimulus_id") -> pd.DataFrame:
    """Events table with columns ``onset``, ``duration`` (s) and ``stimulus`` (str), by onset.

    A missing (``n/a``) stimulus becomes :data:`MISSING_STIMULUS`. Raises ``ValueError`` naming
    the file when ``onset``, ``duration`` or ``stimulus_column`` is absent, or an onset or
    duration is not a finite number (durations must also be non-negative).
    """
    path = Path(path)
    table = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=True, dtype={stimulus_column: str})
    for column in ("onset", "duration", stimulus_column):
        if column not in table.columns:
            raise ValueError(f"events file {path} has no column {column!r} (columns: {list(table.columns)})")
    timing = table[["onset", "duration"]].apply(pd.to_numeric, errors="coerce").to_numpy()
    if not np.isfinite(timing).all() or (timing[:, 1] < 0).any():
        raise ValueError(f"events file {path}: onset and duration must be finite, durations non-negative")
    events = pd.DataFrame({"onset": timing[:, 0], "duration": timing[:, 1],
                           "stimulus": table[stimulus_column].fillna(MISSING_STIMULUS).astype(str).to_numpy()})
    return events.sort_values("onset", kind="stable").reset_index(drop=True)


def check_repetition_time(img: nib.Nifti1Image, tr: float, *, bold: Path, tr_source: Path) -> None:
    """Check the sidecar TR against the image header's 4th zoom (converted to s); 0.1 % tolerance."""
    if img.ndim != 4:
        raise ValueError(f"{bold} is not a 4D image (shape {img.shape})")
    zoom = float(img.header.get_zooms()[3])
    unit = img.header.get_xyzt_units()[1] if hasattr(img.header, "get_xyzt_units") else "sec"
    header_tr = zoom * {"msec": 1e-3, "usec": 1e-6}.get(unit, 1.0)
    if not np.isclose(header_tr, tr, rtol=1e-3, atol=0.0):
        raise ValueError(f"repetition time {tr} s from {tr_source} disagrees with {header_tr} s in the "
                         f"header of {bold}")


def check_run_length(n_volumes: int, tr: float, events: pd.DataFrame, *, bold: Path, events_path: Path) -> None:
    """Every event must end within the run: ``max(onset + duration) <= n_volumes * tr``."""
    end = float((events["onset"] + events["duration"]).max()) if len(events) else 0.0
    if end > n_volumes * tr + 1e-6:
        raise ValueError(f"{bold} has {n_volumes} volumes ({n_volumes * tr:g} s at TR {tr:g} s) but events in "
                         f"{events_path} run until {end:g} s")


# ----------------------------------------------------------------------------- fitting
def design_matrix(events: pd.DataFrame, regressors: Sequence[str], n_volumes: int, tr: float,
                  options: GlmOptions, confounds: pd.DataFrame | None = None) -> pd.DataFrame:
    """Design matrix (n_volumes, n_columns) with one event regressor per distinct name.

    ``regressors[e]`` names the regressor that event row ``e`` of ``events`` (``onset``,
    ``duration``) belongs to. Frame ``t`` is sampled at ``(t + slice_time_ref) * tr`` seconds.
    """
    frame_times = (np.arange(n_volumes) + options.slice_time_ref) * tr
    paradigm = pd.DataFrame({"onset": events["onset"].to_numpy(), "duration": events["duration"].to_numpy(),
                             "trial_type": list(regressors)})
    return make_first_level_design_matrix(
        frame_times, paradigm, hrf_model=options.hrf_model, drift_model=options.drift_model,
        high_pass=options.high_pass, drift_order=options.drift_order,
        add_regs=None if confounds is None else confounds.to_numpy(),
        add_reg_names=None if confounds is None else [str(c) for c in confounds.columns])


def fit_betas(data: np.ndarray, design: pd.DataFrame, options: GlmOptions,
              sample_mask: np.ndarray | None = None) -> pd.DataFrame:
    """GLM betas, one row per design column (index: column names), one column per voxel.

    ``data`` is (n_volumes, n_voxels); ``sample_mask`` the indices of the volumes to fit
    (rows of both data and design), or ``None`` for all.
    """
    if sample_mask is not None:
        data, design = data[sample_mask], design.iloc[sample_mask]
    data = np.asarray(data, dtype=np.float64)
    if options.signal_scaling is not False:
        data, _ = mean_scaling(data, options.signal_scaling)
    labels, results = run_glm(data, design.to_numpy(), noise_model=options.noise_model)
    betas = np.empty((design.shape[1], data.shape[1]))
    for label, result in results.items():
        betas[:, labels == label] = result.theta
    return pd.DataFrame(betas, index=design.columns)


def lsa_betas(data: np.ndarray, events: pd.DataFrame, tr: float, options: GlmOptions, *,
              confounds: pd.DataFrame | None = None, sample_mask: np.ndarray | None = None) -> np.ndarray:
    """Least-squares-all betas, (n_events, n_voxels): one regressor per event row."""
    names = [f"trial_{e:05d}" for e in range(len(events))]
    design = design_matrix(events, names, len(data), tr, options, confounds)
    return fit_betas(data, design, options, sample_mask).loc[names].to_numpy()


def lss_betas(data: np.ndarray, events: pd.DataFrame, tr: float, options: GlmOptions, *,
              confounds: pd.DataFrame | None = None, sample_mask: np.ndarray | None = None,
              targets: np.ndarray | None = None) -> np.ndarray:
    """Least-squares-separate (LSS-1) betas, (n_targets, n_voxels).

    ``targets`` is a boolean mask of the event rows to estimate (default: all); every event
    stays in each model, in the "other trials" regressor when it is not the target.
    """
    targets = np.ones(len(events), bool) if targets is None else np.asarray(targets, bool)
    betas = []
    for target in np.flatnonzero(targets):
        names = np.where(np.arange(len(events)) == target, "target", "other_trials")
        design = design_matrix(events, names, len(data), tr, options, confounds)
        betas.append(fit_betas(data, design, options, sample_mask).loc["target"].to_numpy())
    return np.asarray(betas).reshape(len(betas), data.shape[1])


def condition_betas(data: np.ndarray, events: pd.DataFrame, tr: float, options: GlmOptions, *,
                    confounds: pd.DataFrame | None = None,
                    sample_mask: np.ndarray | None = None) -> tuple[list[str], np.ndarray]:
    """One beta per distinct ``events["stimulus"]`` value, ordered by its first onset.

    Returns ``(stimuli, betas)`` with ``betas`` (n_stimuli, n_voxels).
    """
    stimuli = list(dict.fromkeys(events["stimulus"]))  # order of first onset (events are sorted)
    code = {s: f"condition_{c:05d}" for c, s in enumerate(stimuli)}
    design = design_matrix(events, [code[s] for s in events["stimulus"]], len(data), tr, options, confounds)
    return stimuli, fit_betas(data, design, options, sample_mask).loc[[code[s] for s in stimuli]].to_numpy()
