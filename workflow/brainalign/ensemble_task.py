"""The task an ensemble is trained on, defined from a stimulus set, and its fixed splits.

Inputs are the set's images. Targets ``Y`` (stimulus, k) are either

* ``teacher: {model, layer}``: a layer of a model of the study, read from its features store on
  the same stimulus set and z-scored per unit over the whole set (a unit of s.d. 0 is only
  centred); or
* ``column``: a stimulus coordinate (``shape``, ``category``, ...), as one-hot codes of its
  sorted values (classification regressed on the square loss).

The stimuli are permuted once with the study seed: the first ``n_test`` are the test set, which
is also the probe set every member's layers are read on; a member with ``n_train`` trains on the
first ``n_train`` of the rest. Every member of an ensemble thus sees the same inputs, and members
differ by their initial weights and their target noise draw only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from . import store


@dataclass
class Task:
    """Targets of a stimulus set: ``targets`` (stimulus, k) float64, ``kind`` ``regression`` or
    ``classification``, ``classes`` the one-hot columns' values (classification)."""

    targets: np.ndarray
    kind: str
    classes: list | None = None


def load_task(task: dict, stimuli: xr.Dataset, teacher=None) -> Task:
    """The targets of ``task`` (an ensemble's ``task`` entry) for every stimulus of ``stimuli``."""
    if "column" in task:
        column = task["column"]
        if column not in stimuli.coords or stimuli[column].dims != ("stimulus",):
            coords = sorted(c for c in stimuli.coords if stimuli[c].dims == ("stimulus",))
            raise ValueError(f"ensemble key 'task.column': the stimulus set has no column {column!r} "
                             f"(columns: {coords})")
        values = np.asarray(stimuli[column].values).astype(str)
        classes = sorted(set(values))
        return Task((values[:, None] == np.asarray(classes)[None]).astype(float), "classification", classes)
    if teacher is None:
        raise ValueError("ensemble key 'task.teacher': the teacher's features store was not given")
    layer = task["teacher"]["layer"]
    if layer not in store.layer_names(teacher):
        raise ValueError(f"ensemble key 'task.teacher.layer': {teacher} has no layer {layer!r} "
                         f"(layers: {store.layer_names(teacher)})")
    features = store.open_dataset(teacher, group=layer)
    ids = features.stimulus_id.values.astype(str)
    wanted = stimuli.stimulus_id.values.astype(str)
    if not np.array_equal(np.sort(ids), np.sort(wanted)):
        raise ValueError(f"{teacher}: its stimuli are not those of the stimulus set")
    order = {s: i for i, s in enumerate(ids)}
    y = np.asarray(features.features.values, dtype=float)[[order[s] for s in wanted]]
    sd = y.std(axis=0)
    return Task((y - y.mean(axis=0)) / np.where(sd > 0, sd, 1.0), "regression")


def split(n_stimuli: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(test, pool)`` row indices: a permutation of the stimuli seeded with ``seed``, cut after
    ``n_test``."""
    if not 0 < n_test < n_stimuli:
        raise ValueError(f"ensemble key 'n_test': {n_test} leaves no stimuli to train on "
                         f"(the set has {n_stimuli})")
    order = np.random.default_rng(np.random.SeedSequence([seed, 0x7E57])).permutation(n_stimuli)
    return np.sort(order[:n_test]), order[n_test:]


def member_seeds(study_seed: int, member_seed: int) -> tuple[int, np.ndarray]:
    """A member's weight-initialisation seed and the generator of its target noise, both derived
    from the study seed and the member's seed (independent across members; the same for a member
    in every cell, so that cells differ only by snr, n_train and width)."""
    init, noise = np.random.SeedSequence([study_seed, member_seed]).spawn(2)
    return int(init.generate_state(1)[0]), np.random.default_rng(noise)


def test_error(predicted: np.ndarray, task: Task, rows: np.ndarray) -> float:
    """Error on the clean targets of ``rows``: the mean squared error over the targets' variance
    (0 perfect, 1 as bad as predicting their mean) for regression, the misclassification rate
    (argmax of the outputs) for classification."""
    y = task.targets[rows]
    if task.kind == "classification":
        return float(np.mean(predicted.argmax(axis=1) != y.argmax(axis=1)))
    return float(np.mean((predicted - y) ** 2) / np.var(y))
