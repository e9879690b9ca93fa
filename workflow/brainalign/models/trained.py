"""Model source ``trained``: networks that the workflow trains itself (rule ``train``).

A checkpoint (written by :mod:`brainalign.stages.train`) is a dict of tensors and plain values,
loadable with ``torch.load(path, weights_only=True)``::

    {"state_dict": {...}, "architecture": "linear1", "width": 16, "image_size": 16,
     "n_outputs": 10, "member": {...}}

``member`` records how the network was trained (ensemble, snr, n_train, width, seed, task) and
its errors; it goes into the features store's ``model`` attribute. Architectures, all reading
``image_size`` RGB images normalised with mean and s.d. 0.5 per channel (inputs in ``[-1, 1]``),
with ``k = n_outputs`` outputs and hidden width ``w``:

* ``linear1``: flatten, ``hidden`` = ``W1 x + b1`` (``w`` units, no non-linearity), ``output`` =
  ``W2 hidden + b2``;
* ``mlp``: :class:`~brainalign.models.builtin.MLP` with hidden sizes ``(w, w // 2)`` (layers
  ``fc1``, ``fc2``, ``fc3``; the built-in has ``w = 256``);
* ``small_cnn``: :class:`~brainalign.models.builtin.SmallCNN` with ``(w // 4, w // 2, w)``
  channels (layers ``conv1``, ``conv2``, ``conv3``, ``fc``; the built-in has ``w = 64``).

Initial weights follow :func:`~brainalign.models.builtin.init_seeded` (He-uniform, seeded).
"""

from __future__ import annotations

import torch
from torch import nn

from .adapter import LoadedModel, file_sha256, seeded_torch
from .builtin import MLP, SmallCNN, init_seeded
from .images import ImageTransform

NORM = (0.5, 0.5, 0.5)
LAYERS = {"linear1": ("hidden", "output"), "mlp": ("fc1", "fc2", "fc3"),
          "small_cnn": ("conv1", "conv2", "conv3", "fc")}
ARCHITECTURES = tuple(LAYERS)


class Linear1(nn.Module):
    """Flattened image -> ``width`` linear hidden units -> ``n_outputs`` (no non-linearity)."""

    def __init__(self, image_size: int, width: int, n_outputs: int):
        super().__init__()
        self.flatten = nn.Flatten()
        self.hidden = nn.Linear(3 * image_size**2, width)
        self.output = nn.Linear(width, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.hidden(self.flatten(x)))


def build(architecture: str, *, width: int, image_size: int, n_outputs: int, seed: int) -> nn.Module:
    """A network of ``architecture`` with seeded initial weights (global RNG left untouched)."""
    if architecture not in LAYERS:
        raise ValueError(f"ensemble key 'architecture': unknown value {architecture!r} "
                         f"(known: {list(ARCHITECTURES)})")
    min_width = {"linear1": 1, "mlp": 2, "small_cnn": 4}[architecture]
    if width < min_width:
        raise ValueError(f"ensemble key 'width': {architecture} needs a width of at least {min_width}, got {width}")
    with seeded_torch(seed):
        if architecture == "linear1":
            module = Linear1(image_size, width, n_outputs)
        elif architecture == "mlp":
            module = MLP(image_size=image_size, hidden=(width, width // 2), n_outputs=n_outputs)
        else:
            module = SmallCNN(image_size=image_size, channels=(width // 4, width // 2, width),
                              n_outputs=n_outputs)
    return init_seeded(module, seed)


def transform(image_size: int) -> ImageTransform:
    """The images' preprocessing, the same for training and extraction."""
    return ImageTransform(image_size, NORM, NORM)


def read_checkpoint(path) -> dict:
    """A checkpoint's dict, loaded with ``weights_only=True``; a file that is not one is an error
    naming it."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as err:
        raise ValueError(f"model spec key 'weights': cannot read checkpoint {path}: {err}") from None
    missing = {"state_dict", "architecture", "width", "image_size", "n_outputs"} - set(checkpoint)
    if missing:
        raise ValueError(f"model spec key 'weights': {path} is not a trained-network checkpoint "
                         f"(missing {sorted(missing)})")
    return checkpoint


def from_checkpoint(checkpoint: dict) -> nn.Module:
    """The trained network of a checkpoint dict."""
    module = build(checkpoint["architecture"], width=checkpoint["width"],
                   image_size=checkpoint["image_size"], n_outputs=checkpoint["n_outputs"], seed=0)
    module.load_state_dict(checkpoint["state_dict"])
    return module.eval()


def load(spec: dict) -> LoadedModel:
    """The network of a checkpoint (spec keys ``weights``, ``layers``)."""
    checkpoint = read_checkpoint(spec["weights"])
    module = from_checkpoint(checkpoint)
    images = transform(checkpoint["image_size"])
    return LoadedModel(module=module, input_kind="image", preprocess_fn=images,
                       model_description={"source": "trained", "architecture": checkpoint["architecture"],
                                          "width": checkpoint["width"], "weights": str(spec["weights"]),
                                          "sha256": file_sha256(spec["weights"]),
                                          "member": checkpoint.get("member", {})},
                       preprocessing_description=images.describe())
