"""Where and how a forward pass runs: device, autocast precision, determinism, stimulus rows."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import xarray as xr

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA if available, then Apple MPS, then the CPU; otherwise the named device."""
    if device != "auto":
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"model spec key 'device': {device!r} requested but CUDA is not "
                             "available")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"model spec key 'device': {device!r} requested but MPS is not "
                             "available")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast(device: torch.device, precision: str):
    """A context running the forward pass in ``precision`` (``float32``: no autocast)."""
    if precision == "float32":
        return contextlib.nullcontext()
    if precision not in _AUTOCAST_DTYPES:
        raise ValueError(f"model spec key 'precision': unknown value {precision!r} "
                         "(float32, bf16, fp16)")
    return torch.autocast(device_type=device.type, dtype=_AUTOCAST_DTYPES[precision])


@contextlib.contextmanager
def deterministic(device: torch.device):
    """Deterministic kernels for the duration, where that is cheap (settings restored after).

    CUDA: ``torch.use_deterministic_algorithms(True, warn_only=True)`` and cuDNN without
    autotuning. CPU: nothing to switch. The inference kernels used here (convolution, matrix
    products, normalisation, pooling, attention) give the same bits for the same inputs and
    thread count, which the resumption test checks bit for bit; the global flag would import
    torch's compiler stack (about 1.5 s and 70 MB in every extraction job) and change none of
    them.
    """
    if device.type != "cuda":
        yield
        return
    before = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.benchmark = before[2]


def stimulus_rows(stimuli: xr.Dataset, kind: str, rows) -> np.ndarray | list[str]:
    """Read only the given rows (a slice or index array) of the stimulus variable ``kind``.

    Images come back as uint8 ``(n, y, x, 3)``, texts as a list of ``n`` strings.
    """
    if kind not in stimuli.data_vars:
        raise ValueError(f"the model reads input {kind!r}, but the stimulus set has only "
                         f"variables {sorted(stimuli.data_vars)}")
    var = stimuli[kind].isel(stimulus=rows if isinstance(rows, slice) else np.asarray(rows))
    if kind == "text":
        return [str(v) for v in var.values]
    if set(var.dims) != {"stimulus", "y", "x", "channel"}:
        raise ValueError(f"stimulus variable 'image' must have dims (stimulus, y, x, channel), "
                         f"got {var.dims}")
    return var.transpose("stimulus", "y", "x", "channel").values
