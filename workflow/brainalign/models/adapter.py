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


def require(module: str, pip_name: str, source: str):
    """Import an optional dependency, or say which package the model source needs."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            f"model source {source!r} needs the package {pip_name!r}, which is not installed: "
            f"pip install {pip_name}") from err


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
