"""CIFAR ResNet: strict loading of the real pretrained weights and an independent forward pass."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from brainalign.models import load_model
from brainalign.models.cifar_resnet import CifarResNet, load_weights

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


def _weights(shared_data, depth):
    (path,) = sorted((shared_data / "resnet_cifar10").glob(f"resnet{depth}-*.th"))
    return path


def _manual_forward(state: dict, x: torch.Tensor, depth: int) -> torch.Tensor:
    """ResNet-(6n+2) written out with functional calls straight from the checkpoint's tensors."""
    def bn(h, prefix):
        return F.batch_norm(h, state[f"{prefix}.running_mean"], state[f"{prefix}.running_var"],
                            state[f"{prefix}.weight"], state[f"{prefix}.bias"], training=False,
                            eps=1e-5)

    h = F.relu(bn(F.conv2d(x, state["conv1.weight"], padding=1), "bn1"))
    for stage in (1, 2, 3):
        for block in range((depth - 2) // 6):
            p = f"layer{stage}.{block}"
            stride = 2 if stage > 1 and block == 0 else 1
            out = F.relu(bn(F.conv2d(h, state[f"{p}.conv1.weight"], stride=stride, padding=1),
                            f"{p}.bn1"))
            out = bn(F.conv2d(out, state[f"{p}.conv2.weight"], padding=1), f"{p}.bn2")
            if stride == 2:  # option A: subsample, then zero channels on both sides
                sub = h[:, :, ::2, ::2]
                zeros = torch.zeros(sub.shape[0], sub.shape[1] // 2, *sub.shape[2:])
                shortcut = torch.cat([zeros, sub, zeros], dim=1)
            else:
                shortcut = h
            h = F.relu(out + shortcut)
    return h.mean(dim=(2, 3)) @ state["linear.weight"].T + state["linear.bias"]


@pytest.mark.parametrize("depth", [20, 32])
def test_pretrained_logits_equal_a_manual_forward_pass(shared_data, depth):
    path = _weights(shared_data, depth)
    model = load_model({"source": "cifar_resnet", "depth": depth, "weights": str(path),
                        "layers": ["linear"]})
    images = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    with torch.inference_mode():
        logits = model.forward(model.preprocess(images))
    x = (images / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    x = torch.tensor(x.transpose(0, 3, 1, 2), dtype=torch.float32)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    state = {k.removeprefix("module."): v for k, v in ckpt["state_dict"].items()}
    ref = _manual_forward(state, x, depth)
    assert logits.shape == (4, 10)
    np.testing.assert_allclose(logits.numpy(), ref.numpy(), rtol=1e-4, atol=1e-4)


def test_description_records_the_weights_file_and_its_sha256(shared_data):
    path = _weights(shared_data, 20)
    desc = load_model({"source": "cifar_resnet", "depth": 20, "weights": str(path),
                       "layers": ["linear"]}).describe()
    assert desc["model"]["weights_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert desc["model"]["weights"] == str(path.resolve())
    assert 91 < desc["model"]["reported_top1"] < 94
    assert desc["preprocessing"]["mean"] == list(IMAGENET_MEAN)


def test_loading_is_strict(shared_data):
    with pytest.raises(ValueError, match="does not fit a CIFAR ResNet") as err:
        load_weights(CifarResNet(20), _weights(shared_data, 32))
    assert "layer1.3" in str(err.value)  # the keys resnet20 lacks are listed


def test_missing_weights_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="'weights'"):
        load_model({"source": "cifar_resnet", "depth": 20, "weights": str(tmp_path / "no.th"),
                    "layers": ["linear"]})


def test_block_structure_follows_depth():
    model = CifarResNet(44)
    assert len(model.layer1) == len(model.layer3) == 7
    names = dict(model.named_modules())
    assert "layer2.0.shortcut" in names and "layer3.6.relu2" in names
    with pytest.raises(ValueError, match="6n \\+ 2"):
        CifarResNet(21)
