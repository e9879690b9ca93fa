"""What every model source returns: a module, its preprocessing, and a description of both.

A source adapter (``builtin``, ``cifar_resnet``, ``huggingface``, ...) turns a validated spec
into a :class:`LoadedModel`. Extraction only talks to that object: ``preprocess`` turns one
batch of raw stimuli (uint8 images ``(n, y, x, 3)`` or a list of ``n`` strings) into
:class:`ModelInputs`, ``forward`` runs the module on them, and ``describe`` gives the JSON
that goes into the features store's attributes.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..manifest import file_sha256  # noqa: F401  (re-exported: the adapters hash weights files)


@dataclass
class ModelInputs:
    """One preprocessed batch: the forward call's arguments, and the token mask if any.

    ``attention_mask`` is ``(n, tokens)`` with 1 for real tokens and 0 for padding; token
    poolings use it. Image batches leave it ``None``.
    """

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    attention_mask: torch.Tensor | None = None

    def to(self, device: torch.device) -> ModelInputs:
        """The same batch with every tensor moved to ``device``."""
        move = (lambda v: v.to(device) if isinstance(v, torch.Tensor) else v)
        return ModelInputs(tuple(move(a) for a in self.args),
                           {k: move(v) for k, v in self.kwargs.items()},
                           None if self.attention_mask is None else self.attention_mask.to(device))


@dataclass
class LoadedModel:
    """A model ready for extraction.

    Attributes
    ----------
    module : torch.nn.Module
        The network; layers are named by ``module.named_modules()``.
    input_kind : {"image", "text"}
        Which stimulus variable the model reads.
    preprocess_fn : callable
        Raw batch -> :class:`ModelInputs`.
    model_description, preprocessing_description : dict
        JSON-able records (source, name, weights path and SHA-256; transform parameters).
    forward_fn : callable, optional
        ``(module, inputs) -> output`` where the forward is not ``module(*args, **kwargs)``
        (for example ``model.encode_image`` of a CLIP model).
    """

    module: nn.Module
    input_kind: str
    preprocess_fn: Callable[[Any], ModelInputs]
    model_description: dict
    preprocessing_description: dict
    forward_fn: Callable[[nn.Module, ModelInputs], Any] | None = None

    def preprocess(self, batch) -> ModelInputs:
        """Raw stimuli of one batch -> model inputs (on the CPU)."""
        return self.preprocess_fn(batch)

    def forward(self, inputs: ModelInputs):
        """Run the module on one preprocessed batch."""
        if self.forward_fn is not None:
            return self.forward_fn(self.module, inputs)
        return self.module(*inputs.args, **inputs.kwargs)

    def describe(self) -> dict:
        """``{"model": ..., "preprocessing": ..., "input": ...}``, for the store's attributes."""
        return {"model": self.model_description, "preprocessing": self.preprocessing_description,
                "input": self.input_kind}


# optional package (top-level import name) -> (its distribution, the brainalign extra that
# installs it at versions made for the pinned torch; pyproject.toml)
OPTIONAL_PACKAGES = {
    "torchvision": ("torchvision", "vision"),
    "timm": ("timm", "vision"),
    "open_clip": ("open_clip_torch", "clip"),
    "transformers": ("transformers", "language"),
    "huggingface_hub": ("huggingface_hub", "language"),
}


def install_hint(extra: str) -> str:
    """The commands that install a brainalign extra over the torch already there (one sentence).

    torchvision ``0.(m + 15).p`` is the release built for torch ``2.m.p`` (it requires exactly
    that torch); its PyPI wheels are built against PyPI's CUDA torch and fail to import with a
    CPU build (``2.m.p+cpu``), which needs torchvision's CPU build from PyTorch's own index.
    """
    extra_cmd = (f"pip install -e '.[{extra}]' in the brainalign checkout "
                 f"(pip install 'brainalign[{extra}]' from a wheel)")
    release = re.match(r"(\d+)\.(\d+)\.(\d+)", torch.__version__)
    if extra not in ("vision", "clip") or not release:
        return extra_cmd
    major, minor, patch = (int(v) for v in release.groups())
    vision = f"0.{minor + 15}.{patch}"
    about = f"torchvision {vision} is the release for torch {major}.{minor}.{patch}"
    if "+cpu" not in torch.__version__:
        return f"{extra_cmd} ({about})"
    return (f"pip install torchvision=={vision}+cpu --index-url https://download.pytorch.org/whl/cpu"
            f", then {extra_cmd} ({about}; this torch is a CPU build, and torchvision's PyPI "
            "wheels need the CUDA one)")


def require(module: str, source: str):
    """Import an optional dependency of a model source, or raise saying how to install it.

    ``module`` is an import name whose top-level package is in :data:`OPTIONAL_PACKAGES`. A
    package that is absent raises ``ModuleNotFoundError``; one that is installed but fails to
    import (a build for another torch: undefined symbols, ``operator torchvision::nms does not
    exist``) raises ``ImportError``; both name the extra to install (:func:`install_hint`).
    """
    dist, extra = OPTIONAL_PACKAGES[module.partition(".")[0]]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name and err.name.partition(".")[0] != module.partition(".")[0]:
            what = f"the package {dist!r}, which cannot import {err.name!r} (one of its dependencies)"
        else:
            what = f"the package {dist!r}, which is not installed"
        raise ModuleNotFoundError(f"model source {source!r} needs {what}: "
                                  f"{install_hint(extra)}") from err
    except Exception as err:  # noqa: BLE001  installed, but built for another torch
        try:
            installed = f"{dist} {importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            installed = dist
        raise ImportError(f"model source {source!r}: {installed} is installed but fails to import "
                          f"with torch {torch.__version__} ({type(err).__name__}: {err}): it, or a "
                          f"package it imports, was built for another torch; "
                          f"{install_hint(extra)}") from err


def import_target(target: str, key: str):
    """Resolve ``"package.module:attribute"`` (``key`` names the spec key, for errors)."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ValueError(f"model spec key {key!r}: {target!r} is not of the form "
                         "'package.module:callable'")
    try:
        obj = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise ValueError(f"model spec key {key!r}: cannot import module {module_name!r} "
                         f"({err})") from err
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"model spec key {key!r}: {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"model spec key {key!r}: {target!r} is not callable")
    return obj


@contextlib.contextmanager
def seeded_torch(seed: int):
    """Run a block (a random initialisation) from a fixed seed, then restore the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
