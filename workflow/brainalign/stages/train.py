"""Stage ``train``: train one member of an ensemble, save its checkpoint, read its layers on the probe set.

The member (``spec``: an ensemble's config entry with scalar ``snr``, ``n_train``, ``width`` and
``seed``) is trained on the first ``n_train`` stimuli of the training pool
(:mod:`brainalign.ensemble_task`), with targets ``Y + (sd(Y) / snr) Z`` (:mod:`brainalign.models.training`),
on the GPU when there is one (``device: auto``). The checkpoint ``out`` is written atomically and
loads with ``torch.load(out, weights_only=True)`` (:mod:`brainalign.models.trained`); the member
is then a model of source ``trained`` like any other, and its layers on the probe (= test)
stimuli are extracted by :func:`brainalign.models.extract.extract_features` to ``features``.
"""

from __future__ import annotations

import logging

import torch

from .. import store
from ..ensemble_task import load_task, member_seeds, split, test_error
from ..models import trained
from ..models.extract import extract_features
from ..models.runtime import resolve_device
from ..models.training import deterministic_training, fit_gd, fit_min_norm, noisy_targets

log = logging.getLogger(__name__)

MEMBER_KEYS = ("snr", "n_train", "width", "seed")


def train_member(spec: dict, stimuli, teacher, seed: int) -> dict:
    """Train the member of ``spec`` on the stimulus set ``stimuli`` (a Dataset): its checkpoint dict."""
    task = load_task(spec["task"], stimuli, teacher)
    test, pool = split(stimuli.sizes["stimulus"], spec["n_test"], seed)
    n_train = spec["n_train"]
    if n_train > len(pool):
        raise ValueError(f"ensemble key 'n_train': {n_train} is more than the {len(pool)} training stimuli "
                         f"(the set's {stimuli.sizes['stimulus']} less n_test {spec['n_test']})")
    init_seed, noise_rng = member_seeds(seed, spec["seed"])
    noise = noise_rng.standard_normal((len(pool), task.targets.shape[1]))[:n_train]
    rows = pool[:n_train]
    y_train = noisy_targets(task.targets[rows], spec["snr"], noise)
    images = trained.transform(spec["image_size"])
    x_all = images(stimuli.image.transpose("stimulus", "y", "x", "channel").values).args[0]
    module = trained.build(spec["architecture"], width=spec["width"], image_size=spec["image_size"],
                           n_outputs=task.targets.shape[1], seed=init_seed)
    device = resolve_device(spec["device"])
    with deterministic_training(device):
        module.to(device)
        x, y = x_all[rows].to(device), torch.as_tensor(y_train, dtype=torch.float32, device=device)
        if spec["solver"] == "min_norm":
            train_loss = fit_min_norm(module, x, y)
        else:
            train_loss = fit_gd(module, x, y, epochs=spec["epochs"], lr=spec["lr"],
                                weight_decay=spec["weight_decay"], seed=init_seed)
        with torch.no_grad():
            predicted = module(x_all[test].to(device)).double().cpu().numpy()
    error = test_error(predicted, task, test)
    log.info("%s snr=%g n_train=%d width=%d seed=%d: train loss %.4g, test error %.4g on %s",
             spec["architecture"], spec["snr"], n_train, spec["width"], spec["seed"], train_loss, error, device)
    member = {**{k: spec[k] for k in MEMBER_KEYS}, "ensemble": spec["name"], "task": task.kind,
              "solver": spec["solver"], "train_loss": train_loss, "test_error": error, "device": str(device)}
    return {"state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
            "architecture": spec["architecture"], "width": spec["width"], "image_size": spec["image_size"],
            "n_outputs": int(task.targets.shape[1]), "member": member}


def run(spec: dict, *, stimuli, out, seed: int, features, teacher=None) -> None:
    """Train the member of ``spec``; checkpoint to ``out``, its probe-set layers to ``features``."""
    stimulus_set = store.open_dataset(stimuli)
    checkpoint = train_member(spec, stimulus_set, teacher, seed)
    store.atomic_file(out, lambda tmp: torch.save(checkpoint, tmp))
    test, _ = split(stimulus_set.sizes["stimulus"], spec["n_test"], seed)
    model = {"source": "trained", "weights": str(out), "layers": list(trained.LAYERS[spec["architecture"]]),
             "batch_size": 256, "device": spec["device"]}
    extract_features(model, stimulus_set.isel(stimulus=test), features, params={**spec, "model": model},
                     inputs=[p for p in (stimuli, teacher, out) if p is not None], seed=seed)
