"""Pooling a layer's output ``x`` (first dimension: the ``n`` stimuli) to ``(n, units)`` float32.

==============  ===================  =====================================================
mode            input shape          output row ``b``
==============  ===================  =====================================================
``none``        any ``(n, ...)``     ``x[b].ravel()`` (C order)
``spatial_mean``  ``(n, c, h, w)``   ``mean_{i,j} x[b, :, i, j]``  (``c`` units)
``cls``         ``(n, t, d)``        ``x[b, 0, :]``  (the first token)
``token_mean``  ``(n, t, d)``        ``sum_t m[b,t] x[b,t,:] / sum_t m[b,t]``; ``m`` is the
                                     attention mask (1 = token, 0 = padding), all ones
                                     when the model has none
``last_token``  ``(n, t, d)``        ``x[b, t_b, :]`` with ``t_b`` the last ``t`` where
                                     ``m[b, t] = 1``
==============  ===================  =====================================================
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .layers import matches_pattern
from .spec import POOLING_MODES

_NEEDS = {"spatial_mean": (4, "a conv feature map (n, channels, height, width)"),
          "cls": (3, "a token sequence (n, tokens, hidden)"),
          "token_mean": (3, "a token sequence (n, tokens, hidden)"),
          "last_token": (3, "a token sequence (n, tokens, hidden)")}


def _mask(x: torch.Tensor, attention_mask: torch.Tensor | None, layer: str) -> torch.Tensor:
    if attention_mask is None:
        return torch.ones(x.shape[:2], dtype=x.dtype, device=x.device)
    if tuple(attention_mask.shape) != tuple(x.shape[:2]):
        raise ValueError(f"layer {layer!r}: attention mask {tuple(attention_mask.shape)} does not "
                         f"match the tokens of its output {tuple(x.shape)}")
    return attention_mask.to(device=x.device, dtype=x.dtype)


def pool(x: torch.Tensor, mode: str, *, attention_mask: torch.Tensor | None = None,
         layer: str = "<layer>") -> torch.Tensor:
    """Pool one layer's batch output ``x`` to ``(n, units)`` float32 (see the module table).

    Raises ``ValueError`` naming the layer when the mode does not fit ``x``'s shape (for
    example ``cls`` on a conv map).
    """
    if mode not in POOLING_MODES:
        raise ValueError(f"pooling for layer {layer!r}: unknown mode {mode!r} "
                         f"(modes: {list(POOLING_MODES)})")
    x = x.float()
    if mode == "none":
        return x.reshape(x.shape[0], -1)
    ndim, what = _NEEDS[mode]
    if x.ndim != ndim:
        raise ValueError(f"pooling {mode!r} for layer {layer!r} needs {what}, but the layer "
                         f"outputs shape {tuple(x.shape)}")
    if mode == "spatial_mean":
        return x.mean(dim=(2, 3))
    if mode == "cls":
        return x[:, 0, :]
    m = _mask(x, attention_mask, layer)
    if mode == "token_mean":
        return (x * m[:, :, None]).sum(dim=1) / m.sum(dim=1, keepdim=True).clamp_min(1.0)
    # last_token: the last position whose mask is 1 (right or left padding alike)
    t = x.shape[1]
    last = (t - 1) - torch.argmax(torch.flip(m, dims=[1]), dim=1)
    return x[torch.arange(x.shape[0], device=x.device), last, :]


def pooling_per_layer(layers: list[str], pooling: str | Mapping[str, str]) -> dict[str, str]:
    """The pooling mode of each chosen layer.

    ``pooling`` is one mode for all layers, or a mapping whose keys are layer names or glob
    patterns (either form of :mod:`~brainalign.models.layers`): a layer takes the entry of its exact name, else of the first pattern that matches.
    Every layer must get a mode and every key must match a chosen layer.
    """
    if isinstance(pooling, str):
        return {layer: pooling for layer in layers}
    modes = {}
    for layer in layers:
        key = layer if layer in pooling else next(
            (k for k in pooling if matches_pattern(layer, k)), None)
        if key is None:
            raise ValueError(f"model spec key 'pooling': no entry for layer {layer!r} "
                             f"(keys: {list(pooling)})")
        modes[layer] = pooling[key]
    unused = [k for k in pooling
              if k not in layers and not any(matches_pattern(l, k) for l in layers)]
    if unused:
        raise ValueError(f"model spec key 'pooling': {unused} match none of the chosen layers "
                         f"{layers}")
    return modes
