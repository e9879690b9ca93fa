"""Pooling modes against direct numpy computations, and the per-layer pooling spec."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainalign.models.pooling import pool, pooling_per_layer
from tolerance import assert_close_float32

RNG = np.random.default_rng(0)
CONV = RNG.standard_normal((3, 4, 5, 6)).astype(np.float32)
TOKENS = RNG.standard_normal((3, 7, 5)).astype(np.float32)
# right padding for rows 0 and 1, left padding for row 2
MASK = np.array([[1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1, 0]])


def test_none_flattens_in_c_order():
    out = pool(torch.from_numpy(CONV), "none")
    np.testing.assert_array_equal(out.numpy(), CONV.reshape(3, -1))


def test_spatial_mean():
    out = pool(torch.from_numpy(CONV), "spatial_mean")
    assert_close_float32(out.numpy(), CONV.mean(axis=(2, 3)))  # torch and numpy sum in other orders


def test_cls_is_the_first_token():
    np.testing.assert_array_equal(pool(torch.from_numpy(TOKENS), "cls").numpy(), TOKENS[:, 0])


def test_token_mean_ignores_padding():
    out = pool(torch.from_numpy(TOKENS), "token_mean", attention_mask=torch.from_numpy(MASK))
    ref = np.stack([TOKENS[b, MASK[b] == 1].mean(axis=0) for b in range(3)])
    assert_close_float32(out.numpy(), ref)
    unmasked = pool(torch.from_numpy(TOKENS), "token_mean")
    assert_close_float32(unmasked.numpy(), TOKENS.mean(axis=1))


def test_last_token_with_right_and_left_padding():
    out = pool(torch.from_numpy(TOKENS), "last_token", attention_mask=torch.from_numpy(MASK))
    ref = np.stack([TOKENS[b, np.flatnonzero(MASK[b])[-1]] for b in range(3)])
    np.testing.assert_array_equal(out.numpy(), ref)
    np.testing.assert_array_equal(pool(torch.from_numpy(TOKENS), "last_token").numpy(),
                                  TOKENS[:, -1])


def test_half_precision_outputs_are_pooled_in_float32():
    out = pool(torch.from_numpy(TOKENS).to(torch.bfloat16), "token_mean")
    assert out.dtype == torch.float32


@pytest.mark.parametrize("mode, x", [("cls", CONV), ("token_mean", CONV), ("last_token", CONV),
                                     ("spatial_mean", TOKENS)])
def test_mode_that_does_not_fit_the_shape_is_named(mode, x):
    with pytest.raises(ValueError, match=f"pooling '{mode}' for layer 'conv3'.*{x.shape}"):
        pool(torch.from_numpy(x), mode, layer="conv3")


def test_mask_of_the_wrong_shape_is_an_error():
    with pytest.raises(ValueError, match="attention mask"):
        pool(torch.from_numpy(TOKENS), "token_mean", attention_mask=torch.ones(3, 4), layer="l")


def test_per_layer_pooling_exact_names_beat_globs():
    layers = ["layer1.0", "layer1.1", "fc"]
    modes = pooling_per_layer(layers, {"layer1.1": "none", "layer*": "spatial_mean",
                                       "fc": "none"})
    assert modes == {"layer1.0": "spatial_mean", "layer1.1": "none", "fc": "none"}
    assert pooling_per_layer(layers, "none") == dict.fromkeys(layers, "none")


def test_per_layer_pooling_errors():
    with pytest.raises(ValueError, match="no entry for layer 'fc'"):
        pooling_per_layer(["conv1", "fc"], {"conv*": "spatial_mean"})
    with pytest.raises(ValueError, match=r"\['typo'\] match none"):
        pooling_per_layer(["fc"], {"fc": "none", "typo": "cls"})
