"""Models from torchvision, timm and open_clip (optional packages, imported on use).

Each adapter uses only the library's public entry points and the library's own evaluation
transform, applied image by image to PIL images:

* ``torchvision``: ``torchvision.models.get_model(name, weights=...)``; ``weights`` is a member
  of ``get_model_weights(name)`` (e.g. ``"IMAGENET1K_V1"`` or ``"DEFAULT"``) and its
  ``transforms()`` preprocess; the weights come from the torch hub cache (``$TORCH_HOME``),
  filled beforehand by ``brainalign fetch-models`` where jobs have no network. Without
  ``weights`` the model is randomly initialised from ``seed`` and preprocessed by
  :class:`~brainalign.models.images.ImageTransform`.
* ``timm``: ``timm.create_model(name, pretrained=...)``; ``weights`` is a local checkpoint file
  (passed as ``pretrained_cfg_overlay={"file": weights}``, so nothing is downloaded);
  preprocessing from ``timm.data.resolve_data_config`` and ``timm.data.create_transform``.
* ``open_clip``: ``open_clip.create_model_and_transforms(name, pretrained=...)`` (a tag's
  weights from the local caches ``brainalign fetch-models`` fills, or a local file); images run
  through ``model.encode_image``, text through ``open_clip.get_tokenizer(name)`` and
  ``model.encode_text`` (the attention mask marks non-zero token ids).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.hub

from ..errors import InputError
from .adapter import LoadedModel, ModelInputs, file_sha256, require, seeded_torch
from .images import IMAGENET_MEAN, IMAGENET_STD, ImageTransform, to_pil


def _pil_preprocess(transform):
    """Apply a library's per-image transform (PIL -> tensor) to a batch and stack."""
    def preprocess(images) -> ModelInputs:
        return ModelInputs(args=(torch.stack([transform(img) for img in to_pil(images)]),))
    return preprocess


def _weights_file(path: str) -> tuple[Path, str]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"model spec key 'weights': no file at {file}")
    return file, file_sha256(file)


def load_torchvision(spec: dict) -> LoadedModel:
    """A torchvision classification model (keys ``name``, ``weights``, ``seed``, ``kwargs``)."""
    tv_models = require("torchvision.models", "torchvision")
    name, kwargs = spec["name"], dict(spec.get("kwargs", {}))
    description = {"source": "torchvision", "name": name}
    if "weights" in spec:
        enum = tv_models.get_model_weights(name)
        if spec["weights"] not in enum.__members__:
            raise ValueError(f"model spec key 'weights': {spec['weights']!r} is not a weight of "
                             f"{name!r} (available: {list(enum.__members__)})")
        weights = enum[spec["weights"]]
        try:
            module = tv_models.get_model(name, weights=weights, **kwargs)
        except OSError as err:  # not in the torch hub cache, and no network (URLError)
            raise InputError(
                f"model spec key 'weights': torchvision weights {spec['weights']} of {name!r} are "
                f"not in the torch hub cache {torch.hub.get_dir()}/checkpoints (set by TORCH_HOME) "
                f"and cannot be downloaded here ({err}): download them first, on a machine with "
                "network and the same TORCH_HOME, with `brainalign fetch-models CONFIG`") from err
        transform = weights.transforms()
        preprocess = _pil_preprocess(transform)
        preprocessing = {"transform": repr(transform)}
        description.update(weights=f"{enum.__name__}.{weights.name}", weights_url=weights.url)
    else:
        seed = spec.get("seed", 0)
        with seeded_torch(seed):
            module = tv_models.get_model(name, weights=None, **kwargs)
        preprocess = ImageTransform(spec.get("image_size", 224), spec.get("mean", IMAGENET_MEAN),
                                    spec.get("std", IMAGENET_STD))
        preprocessing = preprocess.describe()
        description.update(weights=None, seed=seed)
    return LoadedModel(module=module, input_kind="image", preprocess_fn=preprocess,
                       model_description=description, preprocessing_description=preprocessing)


def load_timm(spec: dict) -> LoadedModel:
    """A timm model (keys ``name``, ``weights`` (a local file), ``seed``, ``kwargs``)."""
    timm = require("timm", "timm")
    timm_data = require("timm.data", "timm")
    name, kwargs = spec["name"], dict(spec.get("kwargs", {}))
    description = {"source": "timm", "name": name}
    if "weights" in spec:
        file, sha = _weights_file(spec["weights"])
        kwargs["pretrained_cfg_overlay"] = {"file": str(file)}
        description.update(weights=str(file.resolve()), weights_sha256=sha)
    else:
        description.update(weights=None, seed=spec.get("seed", 0))
    with seeded_torch(spec.get("seed", 0)):
        module = timm.create_model(name, pretrained="weights" in spec, **kwargs)
    config = timm_data.resolve_data_config({}, model=module)
    transform = timm_data.create_transform(**config)
    return LoadedModel(module=module, input_kind="image", preprocess_fn=_pil_preprocess(transform),
                       model_description=description,
                       preprocessing_description={"data_config": config,
                                                  "transform": repr(transform)})


def load_open_clip(spec: dict) -> LoadedModel:
    """An open_clip model's image or text tower (keys ``name``, ``pretrained``, ``input``)."""
    open_clip = require("open_clip", "open_clip")
    name, pretrained = spec["name"], spec.get("pretrained")
    description = {"source": "open_clip", "name": name, "pretrained": pretrained}
    if pretrained and Path(pretrained).expanduser().is_file():
        description["weights_sha256"] = file_sha256(Path(pretrained).expanduser())
    model, _, transform = open_clip.create_model_and_transforms(name, pretrained=pretrained)
    if spec["input"] == "image":
        preprocess = _pil_preprocess(transform)
        preprocessing = {"transform": repr(transform)}

        def forward(module, inputs):
            return module.encode_image(*inputs.args)
    else:
        tokenizer = open_clip.get_tokenizer(name)

        def preprocess(texts) -> ModelInputs:
            tokens = tokenizer([str(t) for t in texts])
            return ModelInputs(args=(tokens,), attention_mask=(tokens != 0).long())
        preprocessing = {"tokenizer": type(tokenizer).__name__}

        def forward(module, inputs):
            return module.encode_text(*inputs.args)
    return LoadedModel(module=model, input_kind=spec["input"], preprocess_fn=preprocess,
                       model_description=description, preprocessing_description=preprocessing,
                       forward_fn=forward)
