"""Model sources: ``source`` name -> adapter, imported only when that source is used.

An adapter is a function ``load(spec: dict) -> LoadedModel`` taking a validated spec. Optional
packages (torchvision, timm, open_clip, transformers) are imported inside the adapters, so a
missing one only matters for the source that needs it, and the error names the package.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from .adapter import LoadedModel
from .spec import validate_spec

ADAPTERS = {
    "builtin": "brainalign.models.builtin:load",
    "cifar_resnet": "brainalign.models.cifar_resnet:load",
    "huggingface": "brainalign.models.huggingface:load",
    "torchvision": "brainalign.models.external:load_torchvision",
    "timm": "brainalign.models.external:load_timm",
    "open_clip": "brainalign.models.external:load_open_clip",
    "callable": "brainalign.models.callable_source:load",
    # no network: the features stage writes these directly (brainalign.models.table.fixed_features)
    "table": "brainalign.models.table:load",
    "random": "brainalign.models.table:load",
    "trained": "brainalign.models.trained:load",
}


def adapter(source: str):
    """The ``load`` function of a source."""
    if source not in ADAPTERS:
        raise ValueError(f"model spec key 'source': unknown source {source!r} "
                         f"(known: {sorted(ADAPTERS)})")
    module_name, _, func = ADAPTERS[source].partition(":")
    return getattr(importlib.import_module(module_name), func)


def load_model(spec: Mapping) -> LoadedModel:
    """Validate a model spec and build its model (in eval mode, on the CPU).

    Returns a :class:`~brainalign.models.adapter.LoadedModel` with ``.module``,
    ``.preprocess(batch)``, ``.input_kind`` and ``.describe()``.
    """
    spec = validate_spec(spec)
    model = adapter(spec["source"])(spec)
    model.module.eval()
    return model
