"""Requests (memory, time, threads) of RSA and ``roi_rdms`` jobs, from the shape of their data, not its bytes.

An RSA job's cost follows its ``P = n (n - 1) / 2`` stimulus pairs, not the size of its input
stores: at NSD size (10,000 stimuli, 30,000 trials x 16,000 voxels) the stores hold 2 GB and the
job about 2.8 GB at its peak, while 4 copies of its inputs (the rules' rule of thumb elsewhere)
would ask for 9 GB, and a study of 96 stimuli with large ROIs would ask for far more than it uses.
The rules call these when a job is ready (``rules/common.smk``), reading the stores' metadata
(:func:`brainalign.store.dimension_sizes`) and, for a ``roi_rdms`` job, the stimulus ids of one ROI.

The formulas follow :mod:`brainalign.stages.rsa` and were fitted to ``bench/bench_rsa_10k.py``
(2,500 to 10,000 stimuli, README "An NSD-sized subject"); ``R`` counts the RDMs (ROIs plus layers),
``U`` the largest ROI's voxels.
"""

from __future__ import annotations

import math

import numpy as np

from . import store
from .metrics.rank_bootstrap import STREAM_BYTES
from .store import dimension_sizes

BASE_MIB = 400  # interpreter, numpy, zarr, numba
SORTED_BYTES = 4.2  # per pair and RDM: its sorted pairs (two uint16) and tie bits
SORT_BYTES = 24  # per pair while one RDM is sorted: its values, keys and packed keys
CPU_S_PER_PAIR = 8e-9  # per pair, RDM and bootstrap sample (walk and cross sums)
SETUP_CPU_S_PER_PAIR = 1e-7  # per pair and RDM: RDM, sort, spill and store
GEMM_FLOPS = 25e9  # per core, for the RDMs' Gram products (float64)
DRAWN_PAIRS = 0.45  # the most pairs a bootstrap sample draws, over all pairs (each about (1 - 1/e)^2 = 0.40)


def rsa_shape(brain, features=None) -> dict[str, int]:
    """``n`` stimuli, ``layers``, ``rois``, the largest ROI's ``units`` and ``trials`` from the
    stores' metadata. ``brain`` is a brain store (betas, or precomputed RDMs) or a ``roi_rdms``
    store (its ROIs' RDMs: no units or trials left to read); ``n`` is the features store's stimuli
    (the brain's are a subset), or without one the brain store's."""
    sizes = dimension_sizes(brain)
    groups = list(sizes.values())
    stored = [d for d in groups if "roi" in d]  # a roi_rdms store
    rois = [d for d in groups if ("unit" in d or "pair" in d) and "roi" not in d]
    layer_sizes = [d for d in dimension_sizes(features).values() if "unit" in d] if features else []
    n = max((d["stimulus"] for d in layer_sizes), default=0) if features else \
        max([d.get("stimulus", 0) for d in stored + rois] + [_brain_stimuli(brain, sizes)])
    return {"n": n,
            "layers": len(layer_sizes),
            "rois": len(rois) + sum(d["roi"] for d in stored),
            "units": max((d.get("unit", 0) for d in rois), default=0),
            "trials": max((d.get("trial", 0) for d in rois), default=0)}


def _brain_stimuli(brain, sizes: dict) -> int:
    """Distinct stimuli of a betas store's first ROI (0 for other stores; ``sizes``: its
    :func:`~brainalign.store.dimension_sizes`): one coordinate read."""
    for group, dims in sizes.items():
        if "trial" in dims:
            return len(np.unique(store.open_dataset(brain, group=group).stimulus_id.values))
    return 0


def roi_rdms_memory_mib(shape: dict[str, int]) -> float:
    """Peak memory (MiB) of a ``roi_rdms`` job, plus :data:`BASE_MIB`: while an RDM is made, the
    stimulus means, their unit patterns and the distance's prepared copy (``24 n U``), the RDM
    (``8 P``) and a betas block (``4 trials x 256``); while the store is written, one RDM and its
    compressed chunks (``16 P``). Measured: 1,551 MiB at 10,000 stimuli, one trial each, and
    4,000 voxels (``bench/bench_rsa_10k.py``), against 1,707 asked."""
    n = shape["n"]
    pairs = n * (n - 1) / 2
    return BASE_MIB + max(24 * n * shape["units"] + 8 * pairs + 4 * 256 * shape["trials"], 16 * pairs) / 2**20


def roi_rdms_threads(shape: dict[str, int]) -> int:
    """1 thread below a million pairs (about 1,400 stimuli), else 2 (for the Gram products)."""
    return 1 if shape["n"] * (shape["n"] - 1) / 2 < 1e6 else 2


def roi_rdms_runtime_min(shape: dict[str, int], threads: int) -> float:
    """Time limit (minutes): twice ``P rois 1e-7 + n^2 U rois / 25e9`` CPU seconds (setup rate and
    Gram products of :func:`rsa_runtime_min`) over ``threads``, plus 10 minutes."""
    n = shape["n"]
    cpu_s = n * (n - 1) / 2 * shape["rois"] * SETUP_CPU_S_PER_PAIR + n * n * shape["units"] * shape["rois"] / GEMM_FLOPS
    return 10 + math.ceil(2 * cpu_s / max(threads, 1) / 60)


def rsa_memory_mib(shape: dict[str, int], counting: bool = True) -> float:
    """Peak memory (MiB) of an RSA job: the largest of its phases, plus :data:`BASE_MIB`.

    - RDMs (on a brain store; none on a ``roi_rdms`` store, ``U = 0``): stimulus means and their
      prepared copy (``16 n U``), one RDM (``8 P``) and a betas block (``4 trials x 256`` units);
    - with ``counting`` (Spearman with a bootstrap, :func:`.stages._rsa_settings.counts_ranks`),
      sorting: the last RDM's values and keys (``24 P``) beside the ``R - 1`` sorted ones
      (``4.2 P`` each); and the bootstrap: every sorted RDM (``4.2 P R``) and the drawn pairs' streams (8 bytes per pair
      and RDM for the most pairs a sample draws: ``0.41 P`` over 200 samples at 10,000 stimuli,
      more at a few hundred, where it is small; taken as ``0.45 P``, at most
      :data:`~brainalign.metrics.rank_bootstrap.STREAM_BYTES`);
    - else the comparators on RDMs in memory: every layer's RDM and one ROI's in float64, twice
      (``16 P (L + 1)``).
    """
    n, rdms = shape["n"], shape["rois"] + shape["layers"]
    pairs = n * (n - 1) / 2
    phases = [16 * n * shape["units"] + 8 * pairs + 4 * 256 * shape["trials"]]
    if counting:
        phases += [pairs * (SORT_BYTES + SORTED_BYTES * (rdms - 1)),
                   pairs * SORTED_BYTES * rdms + min(STREAM_BYTES, 8 * DRAWN_PAIRS * pairs * rdms)]
    else:
        phases += [16 * pairs * (shape["layers"] + 1)]
    return BASE_MIB + max(phases) / 2**20


def rsa_threads(shape: dict[str, int]) -> int:
    """Threads worth giving: 1 below a million pairs (about 1,400 stimuli), 2 below 20 million
    (6,300), else 4 (the bootstrap walks every RDM on its own thread)."""
    pairs = shape["n"] * (shape["n"] - 1) / 2
    return 1 if pairs < 1e6 else 2 if pairs < 2e7 else 4


def rsa_runtime_min(shape: dict[str, int], n_bootstrap: int, threads: int) -> float:
    """Time limit (minutes): twice the CPU time the benchmark's rates give, over ``threads``,
    plus 10 minutes: ``P R (8e-9 (n_bootstrap + 3) + 1e-7)`` CPU seconds for the pairs and
    ``n^2 U rois / 25e9`` for the Gram products."""
    n, rdms = shape["n"], shape["rois"] + shape["layers"]
    pairs = n * (n - 1) / 2
    cpu_s = (pairs * rdms * (CPU_S_PER_PAIR * (n_bootstrap + 3) + SETUP_CPU_S_PER_PAIR)
             + n * n * shape["units"] * shape["rois"] / GEMM_FLOPS)
    return 10 + math.ceil(2 * cpu_s / max(threads, 1) / 60)
