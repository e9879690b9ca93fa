"""Models without a network: features given per stimulus in the config, or seeded random ones.

Two sources give a features store (one layer, ``features`` (stimulus, unit) float32) without a
forward pass, for analyses at the level of stimulus labels (e.g. the 8 categories of a block
design, where there are no stimulus images):

* ``table``: a handmade feature table, ``values: {stimulus_id: [x_1, ..., x_m]}``, optional
  unit names ``columns: [name_1, ..., name_m]``. Every stimulus of the set needs a row, every
  row belongs to a stimulus of the set, and every row has ``m`` finite numbers; an error names
  the stimulus at fault.
* ``random``: ``n_units`` standard normal features per stimulus, ``x_s ~ N(0, I)``, drawn from
  a generator seeded with ``(seed, crc32(stimulus_id))``: a stimulus keeps its vector whatever
  the other stimuli of the set and their order. Its geometry carries no information about the
  stimuli (a null model).

The layer is named by the spec's single ``layers`` entry.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import numpy as np
import xarray as xr

__all__ = ["SOURCES", "fixed_features", "load"]

SOURCES = ("table", "random")


def _table(spec: Mapping, ids: list[str]) -> tuple[np.ndarray, list[str]]:
    values = spec["values"]
    missing = [s for s in ids if s not in values]
    if missing:
        raise ValueError(f"model spec key 'values': stimuli {missing} of the stimulus set have no row "
                         f"(rows given: {sorted(values)})")
    extra = sorted(set(values) - set(ids))
    if extra:
        raise ValueError(f"model spec key 'values': rows {extra} name no stimulus of the stimulus set "
                         f"(stimuli: {ids})")
    width = len(spec["columns"]) if "columns" in spec else len(values[ids[0]])
    for s in ids:
        row = np.asarray(values[s], dtype=float)
        if row.shape != (width,) or not np.isfinite(row).all():
            raise ValueError(f"model spec key 'values.{s}': {values[s]!r} must be {width} finite numbers "
                             + ("(one per entry of 'columns')" if "columns" in spec else
                                f"(as many as the row of {ids[0]!r})"))
    names = list(spec.get("columns", [f"unit_{u}" for u in range(width)]))
    return np.array([values[s] for s in ids], dtype=np.float32), names


def _random(spec: Mapping, ids: list[str]) -> tuple[np.ndarray, list[str]]:
    seed = int(spec.get("seed", 0))
    rows = [np.random.default_rng([seed, zlib.crc32(s.encode())]).standard_normal(spec["n_units"]) for s in ids]
    return np.array(rows, dtype=np.float32), [f"unit_{u}" for u in range(spec["n_units"])]


def load(spec: Mapping):
    """The registry's adapter for these sources: there is no network to load or hook."""
    raise ValueError(f"model source {spec['source']!r} has no network (no layers to list or hook); its "
                     "features come from brainalign.models.table.fixed_features (the features stage calls it)")


def fixed_features(spec: Mapping, stimulus_ids) -> tuple[dict[str, xr.Dataset], dict]:
    """One features group (``{layer: Dataset}``) and the root attributes of a features store.

    ``spec`` is a validated model spec with source ``table`` or ``random`` (module docstring).
    """
    if spec["source"] not in SOURCES:
        raise ValueError(f"model spec key 'source': {spec['source']!r} is not one of {SOURCES}")
    if len(spec["layers"]) != 1:
        raise ValueError(f"model spec key 'layers': a {spec['source']} model has one layer, got {spec['layers']}")
    if spec.get("reduce"):
        raise ValueError(f"model spec key 'reduce': does not apply to a {spec['source']} model")
    ids = [str(s) for s in stimulus_ids]
    features, names = (_table if spec["source"] == "table" else _random)(spec, ids)
    layer = spec["layers"][0]
    ds = xr.Dataset({"features": (("stimulus", "unit"), features)},
                    coords={"stimulus_id": ("stimulus", ids), "unit_name": ("unit", names)},
                    attrs={"layer": layer, "n_units_pooled": len(names), "reduction": "none"})
    attrs = {"model": {k: spec[k] for k in ("source", "seed", "n_units", "columns") if k in spec},
             "input": spec["input"], "layers": [layer]}
    return {layer: ds}, attrs
