"""Sweeps: one dataset of the config expanded into derived datasets, one per value or grid point.

Two kinds, both declared on an fMRI dataset ``datasets.<base>``:

* ``sweep: {snr: [...], repeats: [...]}`` on a simulated dataset (``simulate``): every point of
  the grid of the listed values is a simulated dataset of its own, ``simulate.snr`` and
  ``simulate.repeats`` set to the point's values; the base dataset itself is not run.
* ``noise: {target: features|betas, snr: [...], seed}`` on any fMRI dataset: every SNR is a
  dataset whose encoding and RSA stages add Gaussian noise of that SNR to the layer features or
  to the betas as they read them (:mod:`brainalign.added_noise`); it reads the base dataset's
  brain store, which is computed once. The base dataset stays, the noise-free point.

A derived dataset is named ``<base>~<key>-<value>`` per swept key, joined in the order
``snr``, ``repeats`` (e.g. ``sim~snr-0.5~repeats-2``); a noise dataset's key is
``<target>_snr`` (``real~betas_snr-4``). ``~`` cannot occur in a configured dataset name (schema
pattern ``[A-Za-z0-9_.-]``), so a derived name never clashes with a given one, and it is safe in
paths, shell words (rules quote them) and Snakemake wildcards. The value is written as Python's
``str`` of the YAML number (``0.5``, ``4``, ``4.0``). Each derived entry is the base entry
without ``sweep``/``noise``, with the point's values, and ``derived_from: {dataset, values}``:
adding a value to a list adds datasets and leaves every other one's entry, and so its jobs'
params, as they were.
"""

from __future__ import annotations

import copy
import itertools

SEP = "~"
SWEEP_KEYS = ("snr", "repeats")  # order of the grid's keys in a derived name


def point_name(base: str, values: dict) -> str:
    """``base~key-value~...`` for the point ``values`` (key -> number), in ``values``' order."""
    return SEP.join([base, *(f"{key}-{value}" for key, value in values.items())])


def sweep_points(spec: dict) -> list[dict]:
    """Every point of a dataset entry's ``sweep`` or ``noise`` list as ``{key: value}``, in
    config order (the grid's last key varying fastest); [] for a dataset without either."""
    if "sweep" in spec:
        keys = [k for k in SWEEP_KEYS if k in spec["sweep"]]
        return [dict(zip(keys, combo)) for combo in itertools.product(*(spec["sweep"][k] for k in keys))]
    if "noise" in spec:
        return [{f"{spec['noise']['target']}_snr": snr} for snr in spec["noise"]["snr"]]
    return []


def derived_entry(base: str, spec: dict, values: dict, seed: int) -> dict:
    """The dataset entry of one point ``values`` of ``spec`` (module docstring)."""
    out = {k: copy.deepcopy(v) for k, v in spec.items() if k not in ("sweep", "noise")}
    if "sweep" in spec:
        out["simulate"] = {**out["simulate"], **values}
    else:
        noise = spec["noise"]
        out["noise"] = {"target": noise["target"], "snr": next(iter(values.values())),
                        "seed": noise.get("seed", seed)}
    out["derived_from"] = {"dataset": base, "values": dict(values)}
    return out


def expand(datasets: dict, seed: int) -> dict:
    """``datasets`` with every swept dataset replaced by its points (and, for ``noise``, kept as
    the noise-free point), in config order. Raises ValueError naming the key at fault."""
    out = {}
    for name, spec in datasets.items():
        where = f"datasets.{name}"
        if "sweep" in spec and "noise" in spec:
            raise ValueError(f"key '{where}.sweep': give sweep or noise, not both")
        if ("sweep" in spec or "noise" in spec) and spec.get("modality", "fmri") != "fmri":
            key = "sweep" if "sweep" in spec else "noise"
            raise ValueError(f"key '{where}.{key}' applies to fMRI datasets only (here modality "
                             f"{spec['modality']!r})")
        if "sweep" in spec and "simulate" not in spec:
            raise ValueError(f"key '{where}.sweep' applies to simulated datasets only (no '{where}.simulate'); "
                             f"for real data, add noise with '{where}.noise'")
        if "sweep" not in spec:
            out[name] = {k: v for k, v in spec.items() if k != "noise"}
        for values in sweep_points(spec):
            out[point_name(name, values)] = derived_entry(name, spec, values, seed)
    return out
