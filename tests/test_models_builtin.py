"""Built-in random-weight models and the shared image preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from brainalign.models import load_model
from brainalign.models.images import ImageTransform, check_images
from tolerance import assert_close_float32


def _images(n=4, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("name, layers", [("small_cnn", ["conv1", "conv2", "conv3", "fc"]),
                                          ("mlp", ["fc1", "fc2", "fc3"])])
def test_builtin_layers_exist(name, layers):
    model = load_model({"source": "builtin", "name": name, "layers": layers})
    names = dict(model.module.named_modules())
    assert all(layer in names for layer in layers)
    assert model.input_kind == "image"


@pytest.mark.parametrize("name", ["small_cnn", "mlp"])
def test_weights_depend_on_the_seed_only(name):
    spec = {"source": "builtin", "name": name, "layers": ["fc3" if name == "mlp" else "fc"]}
    torch.manual_seed(123)
    a = load_model({**spec, "seed": 7}).module.state_dict()
    torch.manual_seed(999)  # a different global RNG state
    state_before = torch.random.get_rng_state()
    b = load_model({**spec, "seed": 7}).module.state_dict()
    assert torch.equal(torch.random.get_rng_state(), state_before)  # global RNG untouched
    c = load_model({**spec, "seed": 8}).module.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_he_uniform_init_bounds():
    module = load_model({"source": "builtin", "name": "small_cnn", "layers": ["fc"]}).module
    w = module.conv2[0].weight  # fan-in 16 * 3 * 3
    bound = np.sqrt(6 / (16 * 9))
    assert w.abs().max() <= bound
    assert w.abs().max() > 0.9 * bound
    # variance of U(-b, b) is b^2 / 3 = 2 / fan_in (He); 4608 draws: 5 % tolerance
    assert abs(w.var().item() - 2 / (16 * 9)) < 0.05 * 2 / (16 * 9)


def test_small_cnn_needs_size_divisible_by_8():
    with pytest.raises(ValueError, match="divisible by 8"):
        load_model({"source": "builtin", "name": "small_cnn", "layers": ["fc"], "image_size": 20})


def test_image_transform_matches_a_direct_computation():
    images = _images(3, 40)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.6, 0.7)
    out = ImageTransform(32, mean, std)(images).args[0]
    x = torch.tensor(images, dtype=torch.float64).permute(0, 3, 1, 2) / 255
    x = F.interpolate(x, size=(32, 32), mode="bilinear", antialias=True, align_corners=False)
    ref = (x - torch.tensor(mean, dtype=torch.float64)[:, None, None]) / torch.tensor(
        std, dtype=torch.float64)[:, None, None]
    assert out.shape == (3, 3, 32, 32) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), ref.numpy(), atol=1e-5)


def test_image_transform_without_resize_is_exact_normalisation():
    images = _images(2, 32)
    out = ImageTransform(32, (0.5,) * 3, (0.25,) * 3)(images).args[0].numpy()
    ref = (images.transpose(0, 3, 1, 2) / 255 - 0.5) / 0.25
    assert_close_float32(out, ref)  # float32 against float64 arithmetic


def test_bad_images_are_named():
    with pytest.raises(TypeError, match="uint8"):
        check_images(np.zeros((2, 8, 8, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(n, y, x, 3\)"):
        check_images(np.zeros((2, 8, 8), dtype=np.uint8))
