"""The CIFAR-10 ResNet of He et al. (2016, section 4.2), with pretrained weights loaded strictly.

Depth ``6n + 2`` (20, 32, 44, 56, 110): a 3x3 stem conv with 16 channels, then three stages of
``n`` basic blocks with 16, 32 and 64 channels (the first block of stages 2 and 3 halves the
spatial size with stride 2), global average pooling and a 10-way linear layer. A basic block is

    y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))

with the parameter-free "option A" shortcut: the identity, or where the block downsamples,
``x[:, :, ::2, ::2]`` with the new channels zero-padded equally on both sides.

Input: 32x32 RGB, ``x / 255`` normalised with the ImageNet mean and standard deviation.
Hook names: ``conv1``, ``bn1``, ``relu``, ``layer{1,2,3}``, ``layer{s}.{b}`` (a block) and
its ``conv1``, ``bn1``, ``relu1``, ``conv2``, ``bn2``, ``shortcut``, ``relu2``, then ``pool``
(64 units after global averaging) and ``linear`` (the 10 logits).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import reading
from .adapter import LoadedModel, file_sha256, seeded_torch
from .images import IMAGENET_MEAN, IMAGENET_STD, ImageTransform

STAGE_CHANNELS = (16, 32, 64)


class ZeroPadShortcut(nn.Module):
    """Option-A shortcut: subsample by 2 in space, zero-pad ``c_out - c_in`` new channels."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.pad_before = (c_out - c_in) // 2
        self.pad_after = c_out - c_in - self.pad_before

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # F.pad pads the last dims first: (x left, x right, y top, y bottom, c before, c after)
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad_before, self.pad_after))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a ReLU between them, a shortcut, and a ReLU after the sum."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = (ZeroPadShortcut(c_in, c_out) if stride != 1 or c_in != c_out
                         else nn.Identity())
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 images (see the module docstring)."""

    def __init__(self, depth: int = 20, n_classes: int = 10):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n + 2 with n >= 1, got {depth}")
        n_blocks = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, STAGE_CHANNELS[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(STAGE_CHANNELS[0])
        self.relu = nn.ReLU()
        c_in = STAGE_CHANNELS[0]
        for s, c_out in enumerate(STAGE_CHANNELS, start=1):
            stride = 1 if s == 1 else 2
            blocks = [BasicBlock(c_in if b == 0 else c_out, c_out, stride if b == 0 else 1)
                      for b in range(n_blocks)]
            setattr(self, f"layer{s}", nn.Sequential(*blocks))
            c_in = c_out
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.linear = nn.Linear(c_in, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(self.pool(x))


def load_weights(model: CifarResNet, path: str | Path) -> dict:
    """Load a checkpoint ``{"state_dict": {"module.<name>": tensor}, ...}`` strictly.

    Returns the checkpoint's other entries (for example ``best_prec1``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model spec key 'weights': no file at {path}")
    with reading(path, "PyTorch weights", "give a checkpoint saved by torch.save", label="model spec key 'weights'"):
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"model spec key 'weights': {path} holds no 'state_dict'")
    state = {k.removeprefix("module."): v for k, v in checkpoint["state_dict"].items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"model spec key 'weights': {path} does not fit a CIFAR ResNet of this "
                         f"depth:\n{err}") from err
    return {k: v for k, v in checkpoint.items() if k != "state_dict"}


def load(spec: dict) -> LoadedModel:
    """A pretrained CIFAR ResNet from a validated spec (keys ``depth``, ``weights``)."""
    depth, path = spec["depth"], Path(spec["weights"]).expanduser()
    with seeded_torch(0):  # the default init is overwritten; keep the global RNG untouched
        module = CifarResNet(depth)
    extra = load_weights(module, path)
    transform = ImageTransform(32, IMAGENET_MEAN, IMAGENET_STD)
    description = {"source": "cifar_resnet", "name": f"resnet{depth}", "depth": depth,
                   "weights": str(path.resolve()), "weights_sha256": file_sha256(path)}
    if "best_prec1" in extra:
        description["reported_top1"] = float(extra["best_prec1"])
    return LoadedModel(module=module, input_kind="image", preprocess_fn=transform,
                       model_description=description,
                       preprocessing_description=transform.describe())
