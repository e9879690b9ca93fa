"""Array backends for the ridge solvers: ``"numpy"`` (CPU, LAPACK via SciPy) and ``"torch"``.

A backend exposes only the operations the solvers need that are spelled differently in
numpy and torch. Arithmetic, ``@``, ``.T``, ``.sum(axis)``, ``.mean(axis)``, ``.reshape`` and
in-place ``-=``/``*=`` are written directly on the arrays, since both libraries share them.

The torch backend runs on CUDA when ``torch.cuda.is_available()`` and on the CPU otherwise.
Both backends return the same numbers up to floating-point rounding (tested to 1e-5
relative in float64); decompositions may differ in the signs of singular/eigen vectors,
which every quantity computed from them is invariant to.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

BACKEND_NAMES = ("numpy", "torch")


class NumpyBackend:
    """numpy arrays; SVD and symmetric eigendecomposition from LAPACK (``gesdd``, ``syevd``)."""

    name = "numpy"

    def asarray(self, x, dtype=None):
        """``x`` as an array of ``dtype`` (a numpy dtype); no copy when it already is one."""
        return np.asarray(x, dtype=dtype)

    def to_numpy(self, a) -> np.ndarray:
        return np.asarray(a)

    def svd(self, a):
        """Thin SVD ``a = U diag(s) Vt``, singular values in descending order."""
        return scipy.linalg.svd(a, full_matrices=False, lapack_driver="gesdd",
                                check_finite=False)

    def eigh(self, a):
        """Eigenvalues (descending) and eigenvectors (columns) of the symmetric matrix ``a``."""
        eigvals, eigvecs = scipy.linalg.eigh(a, driver="evd", check_finite=False)
        return eigvals[::-1], eigvecs[:, ::-1]

    def clip_min(self, a, low: float):
        return np.maximum(a, low)

    def einsum(self, subscripts: str, *operands):
        return np.einsum(subscripts, *operands)


class TorchBackend:
    """torch tensors on ``device`` (CUDA when available, else CPU)."""

    name = "torch"

    def __init__(self, device: str | None = None):
        import torch

        self._torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")

    def _dtype(self, dtype):
        return {np.dtype(np.float32): self._torch.float32,
                np.dtype(np.float64): self._torch.float64}[np.dtype(dtype)]

    def asarray(self, x, dtype=None):
        """``x`` as a tensor on this backend's device; zero-copy from numpy on the CPU."""
        if isinstance(x, self._torch.Tensor):
            return x.to(device=self.device, dtype=None if dtype is None else self._dtype(dtype))
        x = np.asarray(x, dtype=dtype)
        return self._torch.as_tensor(x, device=self.device)

    def to_numpy(self, a) -> np.ndarray:
        return a.detach().cpu().numpy()

    def svd(self, a):
        """Thin SVD ``a = U diag(s) Vt``, singular values in descending order."""
        return self._torch.linalg.svd(a, full_matrices=False)

    def eigh(self, a):
        """Eigenvalues (descending) and eigenvectors (columns) of the symmetric matrix ``a``."""
        eigvals, eigvecs = self._torch.linalg.eigh(a)
        return self._torch.flip(eigvals, (0,)), self._torch.flip(eigvecs, (1,))

    def clip_min(self, a, low: float):
        return self._torch.clamp_min(a, low)

    def einsum(self, subscripts: str, *operands):
        return self._torch.einsum(subscripts, *operands)


def get_backend(name: str):
    """The backend called ``name`` (one of :data:`BACKEND_NAMES`)."""
    if name == "numpy":
        return NumpyBackend()
    if name == "torch":
        return TorchBackend()
    raise ValueError(f"backend must be one of {BACKEND_NAMES}, got {name!r}")
