"""Stage ``curves``: one alignment method's scores against the number of stimuli (a sample-size curve).

For each size ``n`` of ``n_stimuli`` and each of ``subsets`` random subsets of ``n`` of the
method's stimuli (drawn with ``seed``, :func:`brainalign.metrics.sample_size.draw_subsets`), the
method (:data:`.curve_methods.METHODS`: ``similarity``, ``rsa``, ``encoding``) scores the subset
with its own settings (``settings``: the study's section of that method) and, where it has one,
``n_bootstrap`` samples of its own bootstrap. One subset is held at a time.

The store (one group) holds ``score`` (n_stimuli, subset, entry), ``score_bootstrap`` (n_stimuli,
subset, bootstrap, entry; only for methods with a bootstrap), ``full`` (entry): the score on all
``N`` stimuli, and ``subset_stimuli`` (n_stimuli, subset, draw): the indices into the
``stimulus_id`` coordinate (stimulus) of every subset, padded with -1, so that every point can
be recomputed. A subset the method cannot score (:class:`.curve_methods.SubsetError`: an
encoding subset whose stimuli were all shown in too few runs for the folds) is NaN, logged, and
named with the reason in the ``failed_subsets`` attribute (JSON). The entries' labels (``roi``,
``model``, ``layer``, ``target_model``, ``target_layer``, ``metric``) are coordinates of
``entry``; the root attributes give the method, the study labels (``dataset``, ``subject``,
``stimuli``) and ``ci`` for the band (:func:`brainalign.metrics.sample_size.curve_band`).
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

from .. import store
from ..metrics.sample_size import draw_subsets, subset_rows, subset_seed
from .curve_methods import METHODS, SubsetError

log = logging.getLogger(__name__)
LABELS = ("dataset", "subject", "stimuli")


def compute_curve(curve, sizes, subsets: int, n_bootstrap: int, seed: int) -> tuple[dict, dict]:
    """Scores of ``curve`` (a method of :data:`METHODS`, built) on every subset: the arrays of the
    store (module docstring) as a dict of (dims, values), and the failed points (point -> reason)."""
    n_total = len(curve.stimulus_ids)
    drawn = draw_subsets(n_total, sizes, subsets, seed)
    n_entries = len(next(iter(curve.entries.values())))
    n_boot = n_bootstrap if curve.has_bootstrap else 0
    scores = np.full((len(sizes), subsets, n_entries), np.nan)
    boots = np.full((len(sizes), subsets, n_boot, n_entries), np.nan)
    failed = {}
    for i, n in enumerate(sizes):
        for s in range(subsets):
            try:
                scores[i, s], boots[i, s] = curve.evaluate(subset_rows(drawn[i, s]), n_boot, subset_seed(seed, n, s))
            except SubsetError as err:
                failed[f"n={n} subset={s}"] = str(err)
                log.warning("n = %d, subset %d left NaN: %s", n, s, err)
        log.info("n = %d: mean score over %d subsets %s", n, subsets,
                 np.array2string(np.nanmean(scores[i], axis=0), precision=3, max_line_width=200))
    full, _ = curve.evaluate(np.arange(n_total), 0, seed)
    out = {"score": (("n_stimuli", "subset", "entry"), scores), "full": (("entry",), full),
           "subset_stimuli": (("n_stimuli", "subset", "draw"), drawn)}
    if n_boot:
        out["score_bootstrap"] = (("n_stimuli", "subset", "bootstrap", "entry"), boots)
    return out, failed


def run(spec: dict, *, method: str, features: dict, out, seed: int, brain=None) -> None:
    """The curve of ``method`` on ``features`` (model -> store) and, for brain methods, ``brain``;
    write ``out``. ``spec``: ``n_stimuli``, ``subsets``, ``n_bootstrap``, ``ci``, ``settings``
    (the method's config section) and the labels ``dataset``, ``subject``, ``stimuli``."""
    if method not in METHODS:
        raise ValueError(f"curves: unknown method {method!r}; choose one of {sorted(METHODS)}")
    if method != "similarity" and brain is None:
        raise ValueError(f"curves: method {method!r} needs a brain store (--brain)")
    sizes = sorted(int(n) for n in spec["n_stimuli"])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.scratch-") as scratch:
        curve = METHODS[method](spec["settings"], features=features, brain=brain, scratch=Path(scratch))
        try:
            data, failed = compute_curve(curve, sizes, spec["subsets"], spec["n_bootstrap"], seed)
        except ValueError as err:
            raise ValueError(f"{brain or next(iter(features.values()))}: {err}") from None
    ds = xr.Dataset(data, coords={"n_stimuli": sizes, "stimulus_id": ("stimulus", curve.stimulus_ids),
                                  **{k: ("entry", v) for k, v in curve.entries.items()}},
                    attrs={"method": method, "ci": spec["ci"], "failed_subsets": json.dumps(failed),
                           **{k: spec[k] for k in LABELS if k in spec}})
    ds["score"].attrs["description"] = "the method's score on each random subset of n_stimuli stimuli"
    ds["full"].attrs["description"] = "the score on all stimuli"
    ds["subset_stimuli"].attrs["description"] = "indices into stimulus_id of each subset's stimuli, -1 padded"
    inputs = ([brain] if brain is not None else []) + list(features.values())
    store.write_dataset(out, ds, stage="curves", params={**spec, "method": method}, inputs=inputs, seed=seed)
