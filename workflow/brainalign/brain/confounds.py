"""Confound regressors of a run for the first-level GLM.

* fMRIPrep runs: a denoising strategy read from the run's ``desc-confounds_timeseries.tsv``
  by :func:`nilearn.interfaces.fmriprep.load_confounds`; the ``scrub`` strategy (and
  non-steady-state volumes) also give a sample mask, the volumes kept in the fit.
* raw runs: slow drifts are removed by the GLM's drift model (``drift_model``/``high_pass``
  of :class:`brainalign.brain.glm.GlmOptions`); motion estimates from a text table (one row per
  volume, e.g. six columns as in OpenFMRI's ``bold_moest.txt``) enter as regressors.

:class:`ConfoundOptions` holds the choice; its fields are the config keys.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from nilearn.interfaces.fmriprep import load_confounds

from .bids import Run
from ._options import options_from_dict

__all__ = ["FMRIPREP_STRATEGIES", "ConfoundOptions", "applied_confounds", "fmriprep_confounds", "motion_confounds",
           "run_confounds"]

log = logging.getLogger(__name__)

FMRIPREP_STRATEGIES = ("motion", "high_pass", "wm_csf", "scrub", "compcor", "global_signal")
_LEVELS = ("basic", "power2", "derivatives", "full")
_COMPCOR = ("anat_combined", "anat_separated", "temporal", "temporal_anat_combined", "temporal_anat_separated")


@dataclass(frozen=True)
class ConfoundOptions:
    """Which confounds enter the GLM.

    For fMRIPrep runs (``strategy`` and the parameters of its components, passed on to
    :func:`nilearn.interfaces.fmriprep.load_confounds`):

    strategy : tuple of str
        Components among ``motion``, ``high_pass``, ``wm_csf``, ``scrub``, ``compcor``,
        ``global_signal``. ``high_pass`` adds fMRIPrep's cosine regressors, which duplicate the
        GLM's own ``drift_model="cosine"``; use one of the two.
    motion, wm_csf, global_signal : {"basic", "power2", "derivatives", "full"}
        Expansion of each component (6/12/12/24 motion regressors; 2/4/4/8 WM+CSF; 1/2/2/4 global).
    scrub, fd_threshold, std_dvars_threshold
        Volumes with framewise displacement above ``fd_threshold`` (mm) or standardised DVARS
        above ``std_dvars_threshold`` are censored, then kept segments shorter than ``scrub``
        volumes too.
    compcor, n_compcor
        CompCor variant and number of components (``"all"``: those fMRIPrep retained).
    demean : bool
        Subtract each confound's mean over the kept volumes.

    For raw runs:

    motion_file : bool
        Add the run's motion estimates table (``Run.motion``) as regressors when it has one.
    """

    strategy: tuple[str, ...] = ("motion", "wm_csf")
    motion: str = "basic"
    wm_csf: str = "basic"
    global_signal: str = "basic"
    scrub: int = 5
    fd_threshold: float = 0.5
    std_dvars_threshold: float = 1.5
    compcor: str = "anat_combined"
    n_compcor: int | str = "all"
    demean: bool = True
    motion_file: bool = True

    def __post_init__(self):
        strategy = (self.strategy,) if isinstance(self.strategy, str) else tuple(self.strategy)
        unknown = [s for s in strategy if s not in FMRIPREP_STRATEGIES]
        if unknown:
            raise ValueError(f"confounds strategy {unknown} not among {FMRIPREP_STRATEGIES}")
        object.__setattr__(self, "strategy", strategy)
        for name in ("motion", "wm_csf", "global_signal"):
            if getattr(self, name) not in _LEVELS:
                raise ValueError(f"confounds {name}={getattr(self, name)!r} must be one of {_LEVELS}")
        if self.compcor not in _COMPCOR:
            raise ValueError(f"confounds compcor={self.compcor!r} must be one of {_COMPCOR}")
        if not (self.n_compcor == "all" or (isinstance(self.n_compcor, int) and self.n_compcor > 0)):
            raise ValueError(f"confounds n_compcor={self.n_compcor!r} must be 'all' or a positive integer")
        if not isinstance(self.scrub, int) or self.scrub < 0:
            raise ValueError(f"confounds scrub={self.scrub!r} must be a non-negative integer")
        for name in ("fd_threshold", "std_dvars_threshold"):
            if not isinstance(getattr(self, name), (int, float)) or getattr(self, name) <= 0:
                raise ValueError(f"confounds {name}={getattr(self, name)!r} must be a positive number")

    @classmethod
    def from_dict(cls, options: dict | None) -> ConfoundOptions:
        """Options from a config mapping; an unknown key is an error that names it."""
        return options_from_dict(cls, options, "confounds")

    def to_dict(self) -> dict:
        return {**asdict(self), "strategy": list(self.strategy)}


def fmriprep_confounds(bold: str | Path, options: ConfoundOptions) -> tuple[pd.DataFrame | None, np.ndarray | None]:
    """Confounds of an fMRIPrep run and the indices of the volumes to keep.

    Returns ``(confounds, sample_mask)``: a (n_volumes, n_regressors) table, or ``None`` for an
    empty strategy, and the kept volume indices, or ``None`` when every volume is kept.
    """
    confounds, sample_mask = load_confounds(
        str(bold), strategy=options.strategy, motion=options.motion, scrub=options.scrub,
        fd_threshold=options.fd_threshold, std_dvars_threshold=options.std_dvars_threshold,
        wm_csf=options.wm_csf, global_signal=options.global_signal, compcor=options.compcor,
        n_compcor=options.n_compcor, demean=options.demean)
    if confounds is not None and confounds.shape[1] == 0:
        confounds = None
    return confounds, (None if sample_mask is None else np.asarray(sample_mask, dtype=int))


def motion_confounds(path: str | Path, n_volumes: int) -> pd.DataFrame:
    """Motion estimates from a whitespace-separated table, one row per volume.

    A first row that is not numeric is read as column names; otherwise the columns are named
    ``motion_1 ... motion_m``. Rows must equal ``n_volumes`` and every value must be finite.
    """
    path = Path(path)
    table = pd.read_csv(path, sep=r"\s+", header=None)
    if not all(pd.api.types.is_numeric_dtype(t) for t in table.dtypes):
        table = pd.read_csv(path, sep=r"\s+", header=0)
    else:
        table.columns = [f"motion_{c + 1}" for c in range(table.shape[1])]
    values = table.to_numpy()
    if values.dtype.kind not in "fi" or not np.isfinite(values).all():
        raise ValueError(f"motion estimates in {path} must be finite numbers")
    if len(table) != n_volumes:
        raise ValueError(f"motion estimates in {path} have {len(table)} rows but the run has {n_volumes} volumes")
    return table.astype(float)


def run_confounds(run: Run, n_volumes: int, options: ConfoundOptions) -> tuple[pd.DataFrame | None, np.ndarray | None]:
    """Confound table and sample mask of one run (see the module docstring)."""
    if run.confounds is not None:
        confounds, sample_mask = fmriprep_confounds(run.bold, options)
        if confounds is not None and len(confounds) != n_volumes:
            raise ValueError(f"confounds {run.confounds} have {len(confounds)} rows but {run.bold} has "
                             f"{n_volumes} volumes")
        if sample_mask is not None:
            log.info("%s: %d of %d volumes censored", run.label, n_volumes - len(sample_mask), n_volumes)
        return confounds, sample_mask
    if run.motion is not None and options.motion_file:
        return motion_confounds(run.motion, n_volumes), None
    return None, None


def applied_confounds(runs, options: ConfoundOptions, run_confs) -> dict:
    """What entered the GLM, for the store's attributes: the fMRIPrep options (``strategy`` and
    the rest, ``motion_file`` left out) when some run has fMRIPrep confounds, ``motion_file:
    true`` when some raw run's motion table was used, nothing for runs without confounds.
    ``run_confs``: each run's ``(confounds, sample_mask)`` as :func:`run_confounds` returned them."""
    used = [run for run, (table, mask) in zip(runs, run_confs) if table is not None or mask is not None]
    applied = {}
    if any(run.confounds is not None for run in used):
        applied.update({k: v for k, v in options.to_dict().items() if k != "motion_file"})
    if any(run.confounds is None for run in used):
        applied["motion_file"] = True
    return applied
