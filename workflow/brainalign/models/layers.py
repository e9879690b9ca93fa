"""Choosing layers by name or glob, and catching their outputs with forward hooks.

A layer is a submodule named as in ``module.named_modules()`` (e.g. ``layer1.0.conv2``,
``encoder.layer.3``); its output is what its ``forward`` returns, reduced to one tensor by
:func:`as_tensor`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping

import torch
from torch import nn

_GLOB_CHARS = set("*?[")
_MAX_LISTED = 400


def layer_names(module: nn.Module) -> list[str]:
    """Names of every submodule, in ``named_modules`` order (the root, ``""``, left out)."""
    return [name for name, _ in module.named_modules() if name]


def select_layers(module: nn.Module, patterns: list[str]) -> list[str]:
    """Layers named by ``patterns`` (exact names, or ``fnmatch`` globs such as ``layer*.conv2``),
    in the model's module order, without repeats.

    Raises ``ValueError`` listing the available names when a pattern matches nothing.
    """
    return select_names(layer_names(module), patterns)


def select_names(names: list[str], patterns: list[str]) -> list[str]:
    """:func:`select_layers` on a list of module names (for instance of a model built on the
    ``meta`` device, :mod:`brainalign.config_checks`)."""
    chosen = set()
    for pattern in patterns:
        if pattern in names:
            chosen.add(pattern)
            continue
        matches = fnmatch.filter(names, pattern) if _GLOB_CHARS & set(pattern) else []
        if not matches:
            listed = ", ".join(names[:_MAX_LISTED])
            more = f" ... and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else ""
            raise ValueError(f"model spec key 'layers': {pattern!r} matches no layer of the model; "
                             f"available: {listed}{more}")
        chosen.update(matches)
    return [name for name in names if name in chosen]


def as_tensor(output, layer: str) -> torch.Tensor:
    """The tensor a layer's output stands for: itself; the first tensor of a tuple or list;
    ``last_hidden_state`` (else the first tensor value) of a mapping such as a
    ``transformers`` ``ModelOutput``."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping):
        if isinstance(output.get("last_hidden_state"), torch.Tensor):
            return output["last_hidden_state"]
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        for item in output:
            if isinstance(item, torch.Tensor):
                return item
    raise TypeError(f"layer {layer!r} returns {type(output).__name__}, which holds no tensor")


class LayerRecorder:
    """Forward hooks that keep ``on_output(name, tensor)`` for each chosen layer's latest call.

    Use as a context manager around forward passes; :meth:`take` returns the batch's results
    and checks each layer ran exactly once (a module called twice per forward pass, such as a
    shared ReLU, has no single output). With ``skip_non_tensor``, layers whose output holds no
    tensor are ignored instead of raising.
    """

    def __init__(self, module: nn.Module, names: list[str],
                 on_output: Callable[[str, torch.Tensor], object] | None = None,
                 skip_non_tensor: bool = False):
        self.module = module
        self.skip_non_tensor = skip_non_tensor
        self.names = list(names)
        self.on_output = on_output or (lambda name, tensor: tensor)
        self._results: dict[str, object] = {}
        self._calls: dict[str, int] = {}
        self._handles = []

    def _hook(self, name: str):
        def hook(_module, _inputs, output):
            try:
                tensor = as_tensor(output, name)
            except TypeError:
                if self.skip_non_tensor:
                    return
                raise
            self._calls[name] = self._calls.get(name, 0) + 1
            self._results[name] = self.on_output(name, tensor)
        return hook

    def __enter__(self) -> LayerRecorder:
        modules = dict(self.module.named_modules())
        self._handles = [modules[n].register_forward_hook(self._hook(n)) for n in self.names]
        return self

    def __exit__(self, *exc) -> bool:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        return False

    def take(self, strict: bool = True) -> dict[str, object]:
        """This forward pass's results by layer (then forget them).

        With ``strict``, a layer that did not run or ran more than once is an error.
        """
        if strict:
            bad = {n: self._calls.get(n, 0) for n in self.names if self._calls.get(n, 0) != 1}
            if bad:
                raise ValueError("model spec key 'layers': each layer must run exactly once per "
                                 f"forward pass; calls per layer: {bad}")
        results = {n: self._results[n] for n in self.names if n in self._results}
        self._results, self._calls = {}, {}
        return results
