"""Training one member of an ensemble: noisy targets, gradient descent or the min-norm readout.

Every network is trained on the square loss ``L = mean_(i,j) (f(x_i)_j - y_ij)^2`` over the
``n`` training stimuli and ``k`` targets (a classification task regresses one-hot codes).

* ``gd``: full-batch Adam (:func:`fit_gd`) for ``epochs`` steps with learning rate ``lr`` and L2 penalty
  ``weight_decay`` (every parameter), from the seeded initial weights.
* ``min_norm`` (``linear1`` only): the hidden layer keeps its seeded random weights and the
  readout ``[W2 b2]`` is the minimum-norm solution of ``[H 1] [W2 b2]^T = Y`` (``H`` the
  ``(n, w)`` hidden activations), by SVD in float64. This is where gradient descent on the
  readout converges from a zero start (its iterates stay in the row space of ``[H 1]``), so it is
  the trained network of the random-feature regime without the iterations; it interpolates the
  training set once ``n <= w + 1``, and the interpolation threshold is ``n = w + 1``.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import torch
from torch import nn

from .runtime import deterministic

SOLVERS = ("gd", "min_norm")


def noise_scale(targets: np.ndarray, snr: float) -> float:
    """S.d. of the target noise at signal-to-noise ratio ``snr``: ``sd(Y) / snr``, with ``sd(Y)`` the
    s.d. of every entry of the (clean) training targets around their mean."""
    return float(np.std(targets)) / float(snr)


def noisy_targets(targets: np.ndarray, snr: float, noise: np.ndarray) -> np.ndarray:
    """``Y + noise_scale(Y, snr) * Z`` for standard normal draws ``Z`` of ``Y``'s shape."""
    return targets + noise_scale(targets, snr) * noise


@contextlib.contextmanager
def deterministic_training(device: torch.device):
    """Deterministic training for the duration: on CUDA, cuBLAS with a fixed workspace
    (``CUBLAS_WORKSPACE_CONFIG``, read when CUDA starts) and the deterministic kernels of
    :func:`brainalign.models.runtime.deterministic`; on the CPU the kernels used here (linear,
    convolution, pooling, Adam) give the same bits for the same inputs and thread count, which
    ``tests/test_ensembles.py`` checks, and torch's global flag is not set (it imports torch's
    compiler stack, 1.5 s at best and far more on a busy machine, in every training job)."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    with deterministic(device):
        yield


def fit_gd(module: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, lr: float,
           weight_decay: float, seed: int) -> float:
    """Full-batch Adam on the square loss (module docstring); returns the last step's loss.

    The update of every parameter ``p`` at step ``t = 1 .. epochs``, with ``g = dL/dp + weight_decay p``,
    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2`` (``b1, b2 = 0.9, 0.999``, ``eps = 1e-8``)::

        p <- p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    as ``torch.optim.Adam`` computes it (which ``tests/test_ensembles.py`` checks), written out here
    because constructing a ``torch.optim`` optimiser imports torch's compiler stack (about 3 s, and
    far more on a busy machine, in every training job). ``x`` and ``y`` are on the module's device;
    ``seed`` seeds torch's global RNG first (nothing here draws from it, but a custom layer might).
    """
    torch.manual_seed(seed)
    params = [p for p in module.parameters() if p.requires_grad]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    module.train()
    loss = torch.tensor(float("nan"))
    for t in range(1, epochs + 1):
        loss = torch.mean((module(x) - y) ** 2)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g, m_p, v_p in zip(params, grads, m, v):
                g = g.add(p, alpha=weight_decay) if weight_decay else g
                m_p.lerp_(g, 1 - b1)
                v_p.mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = (v_p.sqrt() / (1 - b2**t) ** 0.5).add_(eps)
                p.addcdiv_(m_p, denom, value=-lr / (1 - b1**t))
    module.eval()
    return float(loss.detach())


def fit_min_norm(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Set the readout of a ``linear1`` network to the min-norm least-squares solution (module
    docstring); returns the training loss."""
    if not (hasattr(module, "hidden") and isinstance(getattr(module, "output", None), nn.Linear)):
        raise ValueError("ensemble key 'solver': 'min_norm' needs the architecture linear1")
    with torch.no_grad():
        h = module.hidden(module.flatten(x)).double().cpu().numpy()
        design = np.hstack([h, np.ones((len(h), 1))])
        coef, *_ = np.linalg.lstsq(design, y.double().cpu().numpy(), rcond=None)  # (w + 1, k)
        module.output.weight.copy_(torch.from_numpy(coef[:-1].T))
        module.output.bias.copy_(torch.from_numpy(coef[-1]))
        return float(torch.mean((module(x) - y) ** 2))
