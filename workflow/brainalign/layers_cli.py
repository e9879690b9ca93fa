"""``brainalign layers``: the layers of a model, from a study config and a model name or a model entry.

Only the model is built (no stimulus store, no validated config): the names printed are what a
model's ``layers`` patterns match against.
"""

from __future__ import annotations

import argparse

from .config import ConfigError
from .configfile import load_config_file
from .stage_spec import complete_entry


def model_entry(args: argparse.Namespace) -> dict:
    """The model entry named by ``--config`` and ``--model``, or given as ``--spec``, resolved."""
    if args.spec is not None:
        return complete_entry("model", args.spec)
    models = load_config_file(args.config).get("models") or {}
    if args.model is None:
        raise ConfigError(f"config file {args.config}: give --model, one of {sorted(models)}")
    if args.model not in models:
        raise ConfigError(f"config file {args.config}: no model {args.model!r} under 'models' ({sorted(models)})")
    return complete_entry("model", models[args.model])


def print_layers(args: argparse.Namespace) -> None:
    """Print every layer name with its module type, or with ``--stimuli`` its output shape."""
    spec = model_entry(args)
    if args.stimuli is not None:
        from . import store
        from .models.extract import list_layers

        for name, shape in list_layers(spec, store.open_dataset(args.stimuli)):
            print(f"{name}\t{tuple(shape)}")
        return
    from .models.registry import load_model
    from .models.spec import validate_spec

    module = load_model(validate_spec(spec)).module
    for name, sub in module.named_modules():
        if name:
            print(f"{name}\t{type(sub).__name__}")
