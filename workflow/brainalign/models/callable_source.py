"""Any model a Python callable builds: ``target: "package.module:factory"``.

``factory(**kwargs)`` must return a ``torch.nn.Module``; it runs with the global torch RNG
seeded from ``seed`` (default 0), so a randomly initialised model is reproducible.
Preprocessing is ``preprocess: "package.module:function"`` when given: it receives the raw
batch (uint8 images ``(n, y, x, 3)`` or a list of strings) and returns a tensor (the forward's
one argument) or a dict of tensors (its keyword arguments; an ``attention_mask`` entry also
feeds the token poolings). Without it, image models get
:class:`~brainalign.models.images.ImageTransform` (``image_size`` default 224, ImageNet
``mean``/``std``), and text models are an error.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from .adapter import LoadedModel, ModelInputs, import_target, seeded_torch
from .images import IMAGENET_MEAN, IMAGENET_STD, ImageTransform


def _wrap_preprocess(fn, target: str):
    def preprocess(batch) -> ModelInputs:
        out = fn(batch)
        if isinstance(out, torch.Tensor):
            return ModelInputs(args=(out,))
        if isinstance(out, Mapping):
            return ModelInputs(kwargs=dict(out), attention_mask=out.get("attention_mask"))
        raise TypeError(f"model spec key 'preprocess': {target!r} returned "
                        f"{type(out).__name__}, expected a tensor or a dict of tensors")
    return preprocess


def load(spec: dict) -> LoadedModel:
    """A model from a factory callable (keys ``target``, ``kwargs``, ``preprocess``, ``seed``)."""
    factory = import_target(spec["target"], "target")
    seed = spec.get("seed", 0)
    with seeded_torch(seed):
        module = factory(**spec.get("kwargs", {}))
    if not isinstance(module, nn.Module):
        raise TypeError(f"model spec key 'target': {spec['target']!r} returned "
                        f"{type(module).__name__}, not a torch.nn.Module")
    if "preprocess" in spec:
        preprocess = _wrap_preprocess(import_target(spec["preprocess"], "preprocess"),
                                      spec["preprocess"])
        preprocessing = {"preprocess": spec["preprocess"]}
    elif spec["input"] == "image":
        preprocess = ImageTransform(spec.get("image_size", 224), spec.get("mean", IMAGENET_MEAN),
                                    spec.get("std", IMAGENET_STD))
        preprocessing = preprocess.describe()
    else:
        raise ValueError("model spec key 'preprocess' is required for a callable model with "
                         "input 'text' (there is no default tokenizer)")
    description = {"source": "callable", "target": spec["target"],
                   "kwargs": spec.get("kwargs", {}), "seed": seed}
    return LoadedModel(module=module, input_kind=spec["input"], preprocess_fn=preprocess,
                       model_description=description, preprocessing_description=preprocessing)
