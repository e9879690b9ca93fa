"""Comparing float32 results: a tolerance above float32 rounding, relative to the magnitude.

float32 keeps 24 significant bits: one rounding moves a value by up to eps/2 relative, with
``eps = 2**-23 ~ 1.19e-7``. Two computations of the same float32 quantity in a different order
(a batch of another size, so other GEMM blocking and padding; a sum split differently; torch
against numpy) differ by a few eps per operation, accumulated over the depth of the computation,
and relative to the magnitude of the terms involved, not of each result: an entry near 0 that
arises from cancelling terms of size ``max|expected|`` carries their rounding error. MiniLM's last
layer, batched by 3 against one batch of 8, differs by 4.6 eps x max|expected| (1.0e-6 at 1.84);
an absolute tolerance of 1e-6 there passed or failed by chance.

So a float32 comparison allows ``ulps`` eps relative to each entry and to the largest magnitude:
``|actual - expected| <= ulps * eps * (|expected| + max|expected|)``, with a default of 64 eps
(7.6e-6 relative): more than ten times the largest difference measured, far below any real error
(a wrong token, layer or pooling changes entries by O(1) relative to the magnitude).
"""

from __future__ import annotations

import numpy as np

F32_EPS = float(np.finfo(np.float32).eps)


def assert_close_float32(actual, expected, ulps: float = 64) -> None:
    """``np.testing.assert_allclose`` with ``rtol = ulps * eps`` and ``atol = ulps * eps * max|expected|``."""
    expected = np.asarray(expected, dtype=np.float64)
    tol = ulps * F32_EPS
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected, rtol=tol,
                               atol=tol * float(np.abs(expected).max(initial=0.0)))
