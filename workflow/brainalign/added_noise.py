"""Gaussian noise of a stated signal-to-noise ratio, added to features or betas as a stage reads them.

For data ``X`` (rows, units) — a layer's features (stimulus, unit) or an ROI's betas (trial,
voxel) — and a ratio ``snr``::

    X~[:, u] = X[:, u] + (sd_u / snr) z_u,    sd_u = sqrt(mean_r (X[r, u] - mean_r X[r, u])^2),

so that ``sd_u / sd(noise_u) = snr`` per unit (in expectation; ``sd_u`` is the population s.d.
over every row the store holds, whatever rows a stage then selects). ``z_u`` ~ N(0, I) (rows) is
drawn from its own generator, seeded by ``(seed, crc32(key), u)`` with ``u`` the unit's index in
the store and ``key`` naming the array (``model/layer`` for features, ``subject/roi`` for betas):
the noise of a unit is the same however the units are split into blocks or jobs, the same in
the encoding and the RSA of one dataset, and, for one seed, the same draws ``z_u`` scaled at
every SNR of a sweep (common random numbers: the curve's points differ by the SNR alone). A
constant unit (``sd_u = 0``) gets none.
"""

from __future__ import annotations

import zlib

import numpy as np


def add_noise(data, snr: float, *, seed: int, key: str, start: int = 0) -> np.ndarray:
    """``data`` (rows, units) plus noise of ratio ``snr`` (module docstring); ``start``: the store
    index of the first column, for a block of a wider array. A copy, float32 or wider like
    ``data``, filled one unit at a time (memory: the block and one column)."""
    out = np.array(data, dtype=np.result_type(np.asarray(data).dtype, np.float32))
    stream = zlib.crc32(key.encode())
    for u in range(out.shape[1]):
        column = out[:, u]
        sd = column.std(dtype=np.float64)
        if sd > 0:
            column += (sd / snr) * np.random.default_rng([seed, stream, start + u]).standard_normal(len(column))
    return out


def noise_for(spec: dict, target: str, key: str):
    """A ``(block, start) -> noisy block`` transform when the stage's ``spec`` adds noise to
    ``target`` (``features`` or ``betas``), else None. ``spec["noise"]``: ``target``, ``snr``,
    ``seed``, as the config's derived ``noise`` datasets give it (:mod:`brainalign.sweeps`)."""
    noise = spec.get("noise")
    if not noise or noise["target"] != target:
        return None
    return lambda block, start=0: add_noise(block, noise["snr"], seed=noise["seed"], key=key, start=start)
