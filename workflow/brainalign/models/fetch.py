"""Pre-download the hub weights a study's models name, into the caches the loaders read.

Jobs never download: a Hugging Face hub id resolves from the local cache only, so a cluster
node without network (or a rerun a year later) reads the same files. ``brainalign fetch-models
CONFIG`` runs this module once, on a machine with network, with the environment the jobs will
have (the same ``HF_HOME`` and ``TORCH_HOME``):

* ``huggingface`` whose ``path`` is a hub id (``org/name``, not a local folder or ``package:``):
  ``huggingface_hub.snapshot_download`` into ``$HF_HUB_CACHE`` (default ``$HF_HOME/hub``,
  ``~/.cache/huggingface/hub``);
* ``torchvision`` with ``weights`` (a weights name such as ``IMAGENET1K_V1``): the weights'
  ``get_state_dict`` (hash checked) into ``$TORCH_HOME/hub/checkpoints`` (default
  ``~/.cache/torch/hub/checkpoints``), where ``torchvision.models.get_model`` finds them;
* ``open_clip`` with a ``pretrained`` tag (not a file): ``open_clip.download_pretrained`` into the
  Hugging Face cache (or ``~/.cache/clip`` for the tags open_clip gets by URL).

Every other source reads local files (``weights``, ``path``) or has no weights, and needs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from .adapter import require
from .spec import validate_spec

_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


def is_hub_id(path: str) -> bool:
    """Whether a Hugging Face ``path`` names a hub model rather than a local folder or package."""
    return (not path.startswith("package:") and not Path(path).expanduser().exists()
            and bool(_HUB_ID.match(path)))


def fetch_model(spec: Mapping) -> str:
    """Download what one model spec needs from a hub; returns one line saying where it went
    (or that the model needs nothing)."""
    spec = validate_spec(spec)
    source = spec["source"]
    if source == "huggingface" and is_hub_id(spec["path"]):
        hub = require("huggingface_hub", "huggingface")
        return f"huggingface {spec['path']} -> {hub.snapshot_download(repo_id=spec['path'])}"
    if source == "torchvision" and "weights" in spec:
        tv_models = require("torchvision.models", "torchvision")
        import torch.hub

        weights = tv_models.get_model_weights(spec["name"])[spec["weights"]]
        weights.get_state_dict(progress=False, check_hash=True)
        file = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        return f"torchvision {spec['name']} {spec['weights']} -> {file}"
    if source == "open_clip" and "pretrained" in spec and not Path(spec["pretrained"]).expanduser().is_file():
        open_clip = require("open_clip", "open_clip")
        cfg = open_clip.get_pretrained_cfg(spec["name"], spec["pretrained"])
        if not cfg:
            raise ValueError(f"model spec key 'pretrained': {spec['pretrained']!r} is not a pretrained tag "
                             f"of {spec['name']!r} (tags: {open_clip.list_pretrained_tags_by_model(spec['name'])})")
        return f"open_clip {spec['name']} {spec['pretrained']} -> {open_clip.download_pretrained(cfg)}"
    return f"{source}: nothing to download (local files or no weights)"


def fetch_models(models: Mapping[str, Mapping]) -> list[str]:
    """:func:`fetch_model` for every entry of a study's ``models``; one line per model,
    ``"<name>: <what was fetched>"``. The first failure is raised as an ``InputError`` naming
    its model."""
    from ..errors import InputError

    lines = []
    for name, spec in models.items():
        try:
            lines.append(f"{name}: {fetch_model(spec)}")
        except Exception as err:  # noqa: BLE001  any failure, named by its model
            raise InputError(f"models.{name}: nothing fetched ({type(err).__name__}: {err})") from err
    return lines


def study_models(paths) -> dict[str, dict]:
    """The ``models`` of the study config files ``paths`` (later files update earlier ones), with
    ``{shared_data}`` replaced in ``path`` and ``weights``. Only the files' syntax is checked,
    not the study (whose validation needs the models already in the cache)."""
    from ..config import ConfigError, _merge, shared_data_dir
    from ..configfile import load_config_file

    config: dict = {}
    for path in paths:
        config = _merge(config, load_config_file(path))
    models = config.get("models")
    if not isinstance(models, Mapping) or not models:
        raise ConfigError(f"config: no 'models' in {[str(p) for p in paths]}")
    shared = shared_data_dir(config)
    return {name: {k: v.replace("{shared_data}", shared) if k in ("path", "weights") and isinstance(v, str)
                   else v for k, v in spec.items()}
            for name, spec in models.items()}
