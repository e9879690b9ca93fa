"""Choosing layers by name or glob, and catching their outputs with forward hooks.

A layer is a submodule named as in ``module.named_modules()`` (e.g. ``layer1.0.conv2``,
``encoder.layer.3``); its output is what its ``forward`` returns, reduced to one tensor by
:func:`as_tensor`.

Patterns (:func:`select_names`):

* an exact module name;
* an ``fnmatch`` glob on the whole name, where ``*`` also matches dots: ``encoder.layer.*`` is
  every module below ``encoder.layer`` (the blocks and each of their sub-modules);
* a glob with ``/`` between name parts, matched part by part: ``*``, ``?`` and ``[...]`` stay
  within one part and the name has exactly as many parts, so ``encoder/layer/*`` is the blocks
  ``encoder.layer.0``, ``encoder.layer.1``, ... only; a leading ``/`` anchors a one-part pattern
  at the top level (``/layer*``: ``layer1``, ``layer2``, ... but not ``layer1.0``).

A glob that selects modules nested inside other selected ones logs a warning (each nested module
is extracted as a layer of its own), suggesting the ``/`` form.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Mapping

import torch
from torch import nn

log = logging.getLogger(__name__)

_GLOB_CHARS = set("*?[")
_MAX_LISTED = 400
_warned: set[str] = set()  # nesting warnings already logged by this process


def layer_names(module: nn.Module) -> list[str]:
    """Names of every submodule, in ``named_modules`` order (the root, ``""``, left out)."""
    return [name for name, _ in module.named_modules() if name]


def select_layers(module: nn.Module, patterns: list[str]) -> list[str]:
    """Layers named by ``patterns`` (exact names, whole-name globs such as ``layer*.conv2``, or
    part-by-part globs such as ``layer1/*``: see the module docstring), in the model's module
    order, without repeats.

    Raises ``ValueError`` listing the available names when a pattern matches nothing.
    """
    return select_names(layer_names(module), patterns)


def select_names(names: list[str], patterns: list[str]) -> list[str]:
    """:func:`select_layers` on a list of module names (for instance of a model built on the
    ``meta`` device, :mod:`brainalign.config_checks`)."""
    chosen: dict[str, str] = {}  # name -> the pattern that first selected it
    for pattern in patterns:
        matches = [pattern] if pattern in names else [n for n in names if matches_pattern(n, pattern)]
        if not matches:
            listed = ", ".join(names[:_MAX_LISTED])
            more = f" ... and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else ""
            raise ValueError(f"model spec key 'layers': {pattern!r} matches no layer of the model; "
                             f"available: {listed}{more}")
        for name in matches:
            chosen.setdefault(name, pattern)
    _warn_nested(chosen, names)
    return [name for name in names if name in chosen]


def matches_pattern(name: str, pattern: str) -> bool:
    """Whether module ``name`` matches a glob ``pattern`` (either form of the module docstring)."""
    if "/" in pattern:
        parts, want = name.split("."), pattern.removeprefix("/").split("/")
        return len(parts) == len(want) and all(map(fnmatch.fnmatchcase, parts, want))
    return bool(_GLOB_CHARS & set(pattern)) and fnmatch.fnmatchcase(name, pattern)


def one_level(pattern: str) -> str:
    """The ``/`` form of a whole-name glob: the same parts, ``*`` kept within each one."""
    return pattern.replace(".", "/") if "." in pattern else f"/{pattern}"


def _warn_nested(chosen: dict[str, str], names: list[str]) -> None:
    """Log, once per process and pattern, a glob whose matches lie inside other chosen layers."""
    for pattern in dict.fromkeys(chosen.values()):
        if "/" in pattern or not _GLOB_CHARS & set(pattern):
            continue
        own = [n for n, p in chosen.items() if p == pattern]
        nested = {n: parent for n in own
                  for parent in [".".join(n.split(".")[:k]) for k in range(1, n.count(".") + 1)]
                  if parent in chosen}
        if not nested:
            continue
        child, parent = next(iter(nested.items()))
        suggestion = one_level(pattern)
        levelled = [n for n in names if matches_pattern(n, suggestion)]
        fix = (f"write {suggestion!r} ({len(levelled)} modules: {', '.join(levelled[:8])}"
               f"{' ...' if len(levelled) > 8 else ''})" if levelled else
               "write the pattern with '/' between name parts")
        message = (f"model spec key 'layers': {pattern!r} matches {len(own)} modules, {len(nested)} of "
                   f"them inside other chosen layers (e.g. {child!r} inside {parent!r}), each extracted "
                   f"as a layer of its own; for one level of the module tree {fix}")
        if message not in _warned:
            _warned.add(message)
            log.warning("%s", message)


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
