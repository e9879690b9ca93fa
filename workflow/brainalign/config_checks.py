"""Checks of a study config that need more than its schema: done before any job is planned, so
that a bad edit fails at once and never costs a finished store (Snakemake deletes a job's outputs
before the job runs).

* **layers**: each model's ``layers`` (names or globs) resolved against its module tree, built
  on torch's ``meta`` device (no weights read, no memory for them, nothing run); a pattern that
  matches no module is an error listing the module names. Sources whose module tree cannot be
  built without running user code or downloading (``callable``, ``open_clip``, tables) are left
  to the features stage; so are sources whose package is not installed.
* **folds**: ``encoding.inner_folds`` against the training runs of a simulated fMRI dataset
  (runs - 1: one run is held out per outer fold); ``time_resolved.outer_folds`` and
  ``inner_folds`` against the stimuli of a MEG dataset (every held-out fold needs 2 stimuli for a
  Pearson r, else every score is NaN).
* **degenerate values**: ``rsa.n_bootstrap`` below 2 (no confidence interval), an empty or
  reversed ``time_resolved.latency_window``.
* **memory**: the rendered stimuli (``n * image_size^2 * 3`` bytes, plus a shape's 4x supersampled
  canvas) and one run of a simulated BOLD series (``voxels * scans * 4`` bytes) against this
  machine's memory.
"""

from __future__ import annotations

import json
import math
import os
from functools import lru_cache

MIN_BOOTSTRAP = 2


class _Unknown(Exception):
    """The module tree of a model cannot be built here."""


def _build_meta(spec: dict):
    """The model's module tree on the ``meta`` device (shapes only), or raise :class:`_Unknown`."""
    import torch

    source = spec["source"]
    with torch.device("meta"):
        if source == "builtin":
            from .models.builtin import MLP, NAMES, SmallCNN
            if spec.get("name") not in NAMES:
                raise ValueError(f"unknown builtin model {spec.get('name')!r} (builtins: {list(NAMES)})")
            return (SmallCNN if spec["name"] == "small_cnn" else MLP)(image_size=spec.get("image_size", 32))
        if source == "cifar_resnet":
            from .models.cifar_resnet import CifarResNet
            return CifarResNet(spec["depth"])
        if source == "huggingface":
            from .models.huggingface import resolve_path
            try:
                import transformers
            except ImportError:
                raise _Unknown from None
            config = transformers.AutoConfig.from_pretrained(resolve_path(spec["path"]), local_files_only=True)
            return transformers.AutoModel.from_config(config)
        if source == "torchvision":
            try:
                import torchvision.models as tv
            except ImportError:
                raise _Unknown from None
            if "weights" in spec and spec["weights"] not in tv.get_model_weights(spec["name"]).__members__:
                raise ValueError(f"'weights': {spec['weights']!r} is not a weight of {spec['name']!r} "
                                 f"(available: {list(tv.get_model_weights(spec['name']).__members__)})")
            return tv.get_model(spec["name"], weights=None, **spec.get("kwargs", {}))
        if source == "timm":
            try:
                import timm
            except ImportError:
                raise _Unknown from None
            return timm.create_model(spec["name"], pretrained=False, **spec.get("kwargs", {}))
    raise _Unknown


@lru_cache(maxsize=64)
def _module_names(spec_json: str) -> tuple[str, ...] | None:
    try:
        module = _build_meta(json.loads(spec_json))
    except (ValueError, TypeError, KeyError, OSError):
        raise  # a bad spec: the caller names its key
    except Exception:  # noqa: BLE001  _Unknown, or a model that cannot be built on `meta`
        return None
    return tuple(name for name, _ in module.named_modules() if name)


def model_layers(spec: dict, key: str) -> list[str] | None:
    """The layers that ``spec['layers']`` selects, in module order, or None when the model's
    modules cannot be listed before running it. Raises ``ConfigError`` naming ``key`` (e.g.
    ``models.cnn``) for a pattern that matches nothing or a model that cannot be built."""
    from .config import ConfigError
    from .models.layers import select_names

    try:
        names = _module_names(json.dumps(spec, sort_keys=True, default=str))
    except (ValueError, TypeError, KeyError, OSError) as err:
        raise ConfigError(f"config: key '{key}': the model cannot be built: {err}") from None
    if names is None:
        return None
    try:
        return select_names(list(names), list(spec["layers"]))
    except ValueError as err:
        raise ConfigError(f"config: key '{key}.layers': {str(err).split(': ', 1)[1]}") from None


def layer_selected(layer: str, spec: dict, key: str) -> bool:
    """Whether ``layer`` is one of the layers a model's ``layers`` select (globs resolved against
    its modules; where those cannot be listed, ``layer`` matching a name or glob)."""
    chosen = model_layers(spec, key)
    if chosen is not None:
        return layer in chosen
    from .models.layers import matches_pattern

    return any(layer == p or matches_pattern(layer, p) for p in spec["layers"])


# ------------------------------------------------------------------- counts and sizes
def n_stimuli(spec: dict) -> int | None:
    """Stimuli in a stimulus set, from its config alone (None when that cannot tell)."""
    from .stimuli import stimulus_ids
    try:
        return len(stimulus_ids(spec))
    except (ValueError, OSError):  # an image folder's own errors are reported by its own check
        return None


def memory_bytes() -> int:
    """Physical memory of this machine in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _fits(nbytes: float, key: str, what: str) -> None:
    from .config import ConfigError
    have = memory_bytes()
    if nbytes > have:
        raise ConfigError(f"config: key '{key}': {what} needs {nbytes / 2**30:.3g} GiB of memory, more than "
                          f"the {have / 2**30:.3g} GiB of this machine; make it smaller")


def check_study(cfg: dict) -> None:
    """Every check of the module docstring on a resolved config; ``ConfigError`` naming the key."""
    from .config import ConfigError

    for name, spec in cfg["models"].items():
        model_layers(spec, f"models.{name}")
    if cfg["rsa"]["n_bootstrap"] < MIN_BOOTSTRAP:
        raise ConfigError(f"config: key 'rsa.n_bootstrap' is {cfg['rsa']['n_bootstrap']}; at least "
                          f"{MIN_BOOTSTRAP} bootstrap samples are needed for a confidence interval")
    start, end = cfg["time_resolved"]["latency_window"]
    if not start < end:
        raise ConfigError(f"config: key 'time_resolved.latency_window' is [{start}, {end}]; "
                          f"the start must come before the end")
    counts = {}
    for name, spec in cfg["stimuli"].items():
        n = counts[name] = n_stimuli(spec)
        if spec["kind"] in ("shapes", "image_folder") and n:
            size = spec.get("image_size", 32 if spec["kind"] == "shapes" else 224)
            canvas = (4 * size) ** 2 * 3 if spec["kind"] == "shapes" else 0
            _fits(n * size * size * 3 + canvas, f"stimuli.{name}.image_size", f"{n} images of {size}x{size}")
    inner = cfg["encoding"]["inner_folds"]
    for name, ds in cfg["datasets"].items():
        n = counts.get(ds["stimuli"])
        if "simulate" in ds:
            sim = ds["simulate"]
            if inner > sim["runs"] - 1:
                raise ConfigError(f"config: key 'encoding.inner_folds' is {inner}, but dataset {name!r} has "
                                  f"{sim['runs'] - 1} training runs (datasets.{name}.simulate.runs "
                                  f"{sim['runs']}, one held out in turn); use at most {sim['runs'] - 1}")
            if n:
                scans = n * sim["repeats"] / sim["runs"] * sim["trial_interval"] / sim["tr"]
                _fits(math.prod(sim["grid"]) * scans * 4, f"datasets.{name}.simulate.grid",
                      f"one run of {scans:.0f} scans of a {'x'.join(map(str, sim['grid']))} grid")
        if ds.get("modality") == "meg" and n:
            outer = cfg["time_resolved"]["outer_folds"]
            if n // outer < 2:
                raise ConfigError(f"config: key 'time_resolved.outer_folds' is {outer}, but dataset {name!r} "
                                  f"has {n} stimuli: every held-out fold needs at least 2 (use at most {n // 2})")
            train = n - math.ceil(n / outer)
            if train // inner < 2:
                raise ConfigError(f"config: key 'encoding.inner_folds' is {inner}, but dataset {name!r} trains "
                                  f"on {train} stimuli per fold: every inner fold needs at least 2 "
                                  f"(use at most {train // 2})")
