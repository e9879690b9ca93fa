"""The model spec: one model entry of a study config, its JSON schema and its validation.

A spec is a dict such as::

    {"source": "cifar_resnet", "depth": 20, "weights": "data/resnet20.th",
     "layers": ["layer*"], "pooling": "spatial_mean", "batch_size": 64}

:data:`MODEL_SPEC_SCHEMA` is the JSON-schema fragment (draft 2020-12) of one spec; the study
config schema embeds it. :func:`validate_spec` checks a spec against it and returns a copy with
the defaults of :data:`DEFAULTS` filled in; the first problem found is raised as a
``ValueError`` that names the key and the value at fault.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import jsonschema

POOLING_MODES = ("none", "spatial_mean", "cls", "token_mean", "last_token")
SOURCES = ("builtin", "cifar_resnet", "huggingface", "torchvision", "timm", "open_clip", "callable",
           "table", "random", "trained")

# keys every source takes
COMMON_KEYS = ("source", "input", "layers", "pooling", "reduce", "batch_size", "device",
               "precision")
# keys each source takes besides COMMON_KEYS, and which of them are required
SOURCE_KEYS = {
    "builtin": (("name",), ("seed", "image_size", "mean", "std")),
    "cifar_resnet": (("depth", "weights"), ()),
    "huggingface": (("path", "input"), ("max_length", "image_size", "mean", "std")),
    "torchvision": (("name",), ("weights", "seed", "kwargs", "image_size", "mean", "std")),
    "timm": (("name",), ("weights", "seed", "kwargs")),
    "open_clip": (("name", "input"), ("pretrained",)),
    "callable": (("target", "input"), ("kwargs", "preprocess", "seed", "image_size", "mean",
                                       "std")),
    # no network (brainalign.models.table): a feature table, or seeded random features
    "table": (("values", "input"), ("columns",)),
    "random": (("n_units", "input"), ("seed",)),
    # a network the workflow trained (brainalign.models.trained): its checkpoint
    "trained": (("weights",), ()),
}
# sources whose models read images only
IMAGE_ONLY = ("builtin", "cifar_resnet", "torchvision", "timm", "trained")

DEFAULTS = {"pooling": "none", "batch_size": 32, "device": "auto", "precision": "float32"}

_pooling_mode = {"enum": list(POOLING_MODES)}
_rgb_triple = {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3}
_import_target = {"type": "string", "pattern": r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"}

MODEL_SPEC_SCHEMA: dict = {
    "type": "object",
    "required": ["source", "layers"],
    "additionalProperties": False,
    "properties": {
        "source": {"enum": list(SOURCES)},
        "input": {"enum": ["image", "text"]},
        "layers": {"type": ["string", "array"], "minLength": 1, "minItems": 1,
                   "items": {"type": "string", "minLength": 1}},
        "pooling": {"type": ["string", "object"],
                    "if": {"type": "string"}, "then": _pooling_mode,
                    "else": {"minProperties": 1, "additionalProperties": _pooling_mode}},
        "reduce": {
            "type": "object",
            "required": ["method", "n_components"],
            "additionalProperties": False,
            "properties": {
                "method": {"enum": ["srp", "pca"]},
                "n_components": {"type": "integer", "minimum": 1},
                "fit_on": {"type": "integer", "minimum": 2},
                "seed": {"type": "integer", "minimum": 0},
            },
            "if": {"properties": {"method": {"const": "srp"}}},
            "then": {"not": {"required": ["fit_on"]}},
        },
        "batch_size": {"type": "integer", "minimum": 1},
        "device": {"type": "string", "pattern": r"^(auto|cpu|mps|cuda(:\d+)?)$"},
        "precision": {"enum": ["float32", "bf16", "fp16"]},
        "name": {"type": "string", "minLength": 1},
        "seed": {"type": "integer", "minimum": 0},
        "depth": {"enum": [20, 32, 44, 56, 110]},
        "weights": {"type": "string", "minLength": 1},
        "path": {"type": "string", "minLength": 1},
        "pretrained": {"type": "string", "minLength": 1},
        "target": _import_target,
        "preprocess": _import_target,
        "kwargs": {"type": "object"},
        "max_length": {"type": "integer", "minimum": 1},
        "image_size": {"type": "integer", "minimum": 1},
        "mean": _rgb_triple,
        "std": {**_rgb_triple, "items": {"type": "number", "exclusiveMinimum": 0}},
        "values": {"type": "object", "minProperties": 1,
                   "additionalProperties": {"type": "array", "items": {"type": "number"}, "minItems": 1}},
        "columns": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
        "n_units": {"type": "integer", "minimum": 1},
    },
    "allOf": [
        {"if": {"properties": {"source": {"const": source}}, "required": ["source"]},
         "then": {"required": list(required),
                  "propertyNames": {"enum": [*COMMON_KEYS, *required, *optional]},
                  **({"properties": {"input": {"const": "image"}}}
                     if source in IMAGE_ONLY else {})}}
        for source, (required, optional) in SOURCE_KEYS.items()
    ],
}

_VALIDATOR = jsonschema.Draft202012Validator(MODEL_SPEC_SCHEMA)


def _message(error: jsonschema.ValidationError, spec: Mapping) -> str:
    source = spec.get("source")
    if "propertyNames" in error.absolute_schema_path:
        required, optional = SOURCE_KEYS[source]
        takes = sorted({*COMMON_KEYS, *required, *optional})
        return (f"model spec key {error.instance!r} does not apply to source {source!r} "
                f"(keys it takes: {takes})")
    where = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "required" and not where:
        context = f" (source {source!r})" if source in SOURCE_KEYS else ""
        return f"model spec{context}: {error.message}"
    if error.validator == "const" and where == "input":
        return f"model spec key 'input': source {source!r} reads images, not {error.instance!r}"
    return f"model spec key {where or '<top level>'!r}: {error.message}"


def validate_spec(spec: Mapping) -> dict:
    """Check one model spec against :data:`MODEL_SPEC_SCHEMA`; return it with defaults filled.

    Keys set to ``None`` count as absent (a study config may write ``weights: null``).
    Defaults: ``pooling`` ``"none"``, ``batch_size`` 32, ``device`` ``"auto"``, ``precision``
    ``"float32"``, ``input`` ``"image"`` for the image-only sources, and ``layers`` as a list.

    Raises
    ------
    TypeError
        ``spec`` is not a mapping.
    ValueError
        The spec breaks the schema; the message names the key and value at fault.
    """
    if not isinstance(spec, Mapping):
        raise TypeError(f"model spec must be a mapping, got {type(spec).__name__}")
    spec = {key: value for key, value in spec.items() if value is not None}
    errors = list(_VALIDATOR.iter_errors(spec))
    if errors:
        # report the error found deepest in the schema: the most specific one
        error = max(errors, key=lambda e: (len(e.absolute_schema_path), -len(e.path)))
        raise ValueError(_message(error, spec))
    out = {**DEFAULTS, **copy.deepcopy(spec)}
    if out["source"] in IMAGE_ONLY:
        out.setdefault("input", "image")
    if isinstance(out["layers"], str):
        out["layers"] = [out["layers"]]
    return out
