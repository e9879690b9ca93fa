"""Built-in models with seeded random weights: ``small_cnn`` and ``mlp``.

Both read ``image_size x image_size`` RGB images (default 32, normalised with mean and std
0.5 per channel, so inputs lie in ``[-1, 1]``). Weights are drawn from a ``torch.Generator``
seeded with the spec's ``seed`` (default 0), independent of the global RNG state:
every weight ``W`` of a layer with fan-in ``f`` is uniform on ``[-sqrt(6 / f), sqrt(6 / f)]``
(He-uniform, variance ``2 / f``) and every bias uniform on ``[-1 / sqrt(f), 1 / sqrt(f)]``.

Layers (hook names):

* ``small_cnn``: ``conv1``, ``conv2``, ``conv3`` (each 3x3 conv, ReLU, 2x2 max-pool; 16, 32
  and 64 channels) and ``fc`` (10 units). ``image_size`` must be divisible by 8.
* ``mlp``: ``fc1`` (256 units, ReLU), ``fc2`` (128 units, ReLU), ``fc3`` (10 units).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .adapter import LoadedModel, seeded_torch
from .images import ImageTransform

NAMES = ("small_cnn", "mlp")
_DEFAULT_NORM = (0.5, 0.5, 0.5)


class SmallCNN(nn.Module):
    """Three conv blocks (conv 3x3, ReLU, max-pool 2) and a linear read-out."""

    def __init__(self, image_size: int = 32, channels=(16, 32, 64), n_outputs: int = 10):
        super().__init__()
        if image_size % 8:
            raise ValueError(f"small_cnn: image_size must be divisible by 8, got {image_size}")
        c_in = 3
        for i, c_out in enumerate(channels, start=1):
            setattr(self, f"conv{i}", nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1),
                                                     nn.ReLU(), nn.MaxPool2d(2)))
            c_in = c_out
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(c_in * (image_size // 8) ** 2, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.conv3(self.conv2(self.conv1(x)))))


class MLP(nn.Module):
    """Flattened image -> 256 -> 128 -> 10, ReLU between layers."""

    def __init__(self, image_size: int = 32, hidden=(256, 128), n_outputs: int = 10):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Sequential(nn.Linear(3 * image_size**2, hidden[0]), nn.ReLU())
        self.fc2 = nn.Sequential(nn.Linear(hidden[0], hidden[1]), nn.ReLU())
        self.fc3 = nn.Linear(hidden[1], n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(self.fc2(self.fc1(self.flatten(x))))


def init_seeded(module: nn.Module, seed: int) -> nn.Module:
    """Draw every conv/linear weight and bias from a generator seeded with ``seed`` (see above)."""
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                fan_in = layer.weight[0].numel()
                bound = math.sqrt(6.0 / fan_in)
                layer.weight.uniform_(-bound, bound, generator=gen)
                if layer.bias is not None:
                    layer.bias.uniform_(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in),
                                        generator=gen)
    return module


def load(spec: dict) -> LoadedModel:
    """A built-in model from a validated spec (keys ``name``, ``seed``, ``image_size``,
    ``mean``, ``std``)."""
    name = spec["name"]
    if name not in NAMES:
        raise ValueError(f"model spec key 'name': unknown builtin model {name!r} "
                         f"(builtins: {list(NAMES)})")
    size = spec.get("image_size", 32)
    seed = spec.get("seed", 0)
    with seeded_torch(seed):  # the constructors' own init must not advance the global RNG
        module = (SmallCNN if name == "small_cnn" else MLP)(image_size=size)
    init_seeded(module, seed)
    transform = ImageTransform(size, spec.get("mean", _DEFAULT_NORM), spec.get("std", _DEFAULT_NORM))
    return LoadedModel(module=module, input_kind="image", preprocess_fn=transform,
                       model_description={"source": "builtin", "name": name, "seed": seed,
                                          "image_size": size},
                       preprocessing_description=transform.describe())
