"""Stage ``decode``: leave-one-run-out decoding of the stimulus labels from the betas of each ROI.

A check that brain data carry stimulus information at all (and that trials, runs and labels
were read right), independent of any model. For each ROI of a brain store, a scikit-learn
linear classifier (``classifier``: multinomial ``logistic_regression`` or one-vs-rest
``linear_svc``, penalty ``C``) predicts each trial's ``stimulus_id`` from its betas
(``standardize``: each voxel z-scored with the training runs' mean and s.d.), trained on all
runs but the trial's own. With ``k`` correct of ``n`` trials:

* accuracy ``k / n``, chance ``1 / m`` for ``m`` labels (every label in every run, as in a
  block design);
* a 95 % Clopper-Pearson interval, ``[B(0.025; k, n - k + 1), B(0.975; k + 1, n - k)]`` with
  ``B(q; a, b)`` the ``q`` quantile of a Beta(a, b) distribution;
* the one-sided binomial p-value of ``k`` or more correct at chance, and the central 95 % range
  of the accuracy at chance (Binomial(n, 1/m) / n).

The binomial treats trials as independent, which the folds (and a trial's neighbours in its run)
make only approximately true. The store keeps every prediction: ``predicted`` and ``correct``
(roi, trial), with the scores (roi) and the number of voxels ``n_units`` (roi).
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from .. import store

log = logging.getLogger(__name__)
CLASSIFIERS = {"logistic_regression": lambda C, seed: LogisticRegression(C=C, max_iter=5000),
               "linear_svc": lambda C, seed: LinearSVC(C=C, max_iter=20000, random_state=seed)}


def binomial_summary(k: int, n: int, chance: float, level: float = 0.95) -> dict:
    """Accuracy ``k / n`` with its Clopper-Pearson interval, the p-value of ``>= k`` correct at
    ``chance``, and the central ``level`` range of the accuracy at chance."""
    test = stats.binomtest(k, n, chance, alternative="greater")
    ci = stats.binomtest(k, n).proportion_ci(level, method="exact")
    tail = (1 - level) / 2
    return {"accuracy": k / n, "ci_low": ci.low, "ci_high": ci.high, "p_value": test.pvalue,
            "chance_low": stats.binom.ppf(tail, n, chance) / n, "chance_high": stats.binom.ppf(1 - tail, n, chance) / n}


def decode_roi(betas: np.ndarray, labels: np.ndarray, runs: np.ndarray, spec: dict, seed: int) -> np.ndarray:
    """Leave-one-run-out predicted label of every trial, (n_trials,) str."""
    if len(np.unique(runs)) < 2:
        raise ValueError(f"decoding leaves one run out: needs at least 2 runs, got {sorted(set(map(str, runs)))}")
    if spec["classifier"] not in CLASSIFIERS:
        raise ValueError(f"decoding classifier {spec['classifier']!r} is not one of {sorted(CLASSIFIERS)}")
    classifier = CLASSIFIERS[spec["classifier"]](spec["C"], seed)
    model = make_pipeline(StandardScaler(), classifier) if spec["standardize"] else classifier
    return cross_val_predict(model, betas, labels, groups=runs, cv=LeaveOneGroupOut()).astype(str)


def run(spec: dict, *, brain, out, seed: int) -> None:
    """Decode every ROI of ``brain``; write ``out``."""
    labels = {k: spec[k] for k in ("dataset", "subject") if k in spec}
    rois = store.group_names(brain)
    groups = {roi: store.open_dataset(brain, group=roi) for roi in rois}
    stimulus_ids, runs = groups[rois[0]].stimulus_id.values.astype(str), groups[rois[0]].run.values.astype(str)
    chance = 1.0 / len(np.unique(stimulus_ids))
    predicted, scores, n_units = [], [], []
    for roi, ds in groups.items():
        if not (np.array_equal(ds.stimulus_id.values.astype(str), stimulus_ids)
                and np.array_equal(ds.run.values.astype(str), runs)):
            raise ValueError(f"{brain}: ROI {roi!r} holds other trials than ROI {rois[0]!r}")
        predicted.append(decode_roi(ds.betas.values, stimulus_ids, runs, spec, seed))
        n_units.append(ds.sizes["unit"])
        scores.append(binomial_summary(int((predicted[-1] == stimulus_ids).sum()), len(stimulus_ids), chance))
        log.info("%s %s (%d voxels): accuracy %.3f [%.3f, %.3f], chance %.3f, p = %.2g",
                 "/".join(labels.values()), roi, n_units[-1], scores[-1]["accuracy"], scores[-1]["ci_low"],
                 scores[-1]["ci_high"], chance, scores[-1]["p_value"])
    predicted = np.array(predicted)
    out_ds = xr.Dataset(
        {"predicted": (("roi", "trial"), predicted),
         "correct": (("roi", "trial"), predicted == stimulus_ids),
         **{key: ("roi", np.array([s[key] for s in scores])) for key in scores[0]},
         "n_units": ("roi", np.array(n_units))},
        coords={"roi": rois, "stimulus_id": ("trial", stimulus_ids), "run": ("trial", runs)},
        attrs={**labels, "classifier": spec["classifier"], "chance": chance, "n_labels": len(np.unique(stimulus_ids)),
               "cv": "leave one run out", "ci": "95 % Clopper-Pearson over test trials"})
    store.write_dataset(out, out_ds, stage="decode", params=spec, inputs=[brain], seed=seed)
