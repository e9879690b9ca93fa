"""Activation extraction: stimuli -> a features store with one group per layer.

For each batch of ``batch_size`` stimuli (rows ``start:stop``, read on their own), the model
runs once in eval mode under ``torch.inference_mode``; forward hooks pool each chosen layer's
output to ``(batch, units)`` float32 (:mod:`~brainalign.models.pooling`), an optional
reduction maps the units to ``k`` components (:mod:`~brainalign.models.reduce`), and the rows
go to the group ``<layer>``, variable ``features`` ``(stimulus, unit)``, coordinate
``stimulus_id``, through a :class:`~brainalign.models.writer.FeatureWriter`, which writes
whole row chunks on a thread of its own while the next batches run. Memory is bounded by one
batch plus the writer's two blocks (plus, for PCA, the fitting subset's pooled features),
whatever the number of stimuli. A killed run started
again resumes from the last committed row; batches are the same as in an uninterrupted run, so
the stored arrays are identical.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from ..progress import progress
from ..stimuli import stimulus_coords
from ..store import StreamingStore
from .adapter import LoadedModel
from .layers import LayerRecorder, layer_names, select_layers
from .pooling import pool, pooling_per_layer
from .reduce import PCA, SparseRandomProjection, fit_subset
from .registry import load_model
from .runtime import autocast, deterministic, resolve_device, stimulus_rows
from .spec import validate_spec
from .writer import DEFAULT_BLOCK_BYTES, FeatureWriter


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))


class _PooledForward:
    """Run one batch and return each chosen layer's pooled output as float32 numpy."""

    def __init__(self, model: LoadedModel, spec: dict, layers: list[str], device: torch.device):
        self.model, self.device, self.precision = model, device, spec["precision"]
        self.modes = pooling_per_layer(layers, spec["pooling"])
        # huggingface text without max_length pads to each batch's longest text
        self.variable_tokens = (model.input_kind == "text" and spec["source"] == "huggingface"
                                and "max_length" not in spec)
        self.output_shapes: dict[str, list] = {}
        self._mask = None
        self.recorder = LayerRecorder(model.module, layers, on_output=self._pool)

    def _pool(self, layer: str, x: torch.Tensor) -> np.ndarray:
        mode = self.modes[layer]
        tokens = (self._mask is not None and x.ndim >= 3
                  and tuple(x.shape[:2]) == tuple(self._mask.shape))
        if tokens and self.variable_tokens and mode == "none":
            raise ValueError(f"pooling 'none' for layer {layer!r} would flatten a token sequence "
                             "whose length is the batch's longest text; use token_mean, cls or "
                             "last_token, or set max_length in the model spec")
        shape = list(x.shape[1:])
        if tokens and self.variable_tokens:
            shape[0] = None  # the number of tokens varies from batch to batch
        self.output_shapes.setdefault(layer, shape)
        return pool(x, mode, attention_mask=self._mask, layer=layer).cpu().numpy()

    def __call__(self, raw) -> dict[str, np.ndarray]:
        inputs = self.model.preprocess(raw).to(self.device)
        self._mask = inputs.attention_mask
        with self.recorder, torch.inference_mode(), autocast(self.device, self.precision):
            self.model.forward(inputs)
        return self.recorder.take()


def _fit_pca(reduce: Mapping, run: _PooledForward, stimuli: xr.Dataset, batch_size: int,
             seed: int) -> dict:
    """First pass over PCA's fitting subset; per layer a fitted :class:`PCA`, or None where the
    layer has no more than ``k`` units."""
    rows = fit_subset(stimuli.sizes["stimulus"], reduce.get("fit_on"), seed)
    pooled = {layer: [] for layer in run.recorder.names}
    for start in range(0, len(rows), batch_size):
        batch = run(stimulus_rows(stimuli, run.model.input_kind, rows[start:start + batch_size]))
        for layer, x in batch.items():
            pooled[layer].append(x)
    k = reduce["n_components"]
    fitted = {}
    for layer, blocks in pooled.items():
        x = np.concatenate(blocks)
        fitted[layer] = PCA(k).fit(x) if x.shape[1] > k else None
    return fitted


def _layer_attrs(run: _PooledForward, layer: str, n_units: int, reducer) -> dict:
    reduction = reducer.describe() if reducer is not None else None
    return _jsonable({"layer": layer, "output_shape": run.output_shapes[layer],
                      "pooling": run.modes[layer], "n_units_pooled": n_units,
                      "reduction": reduction})


def extract_features(spec: Mapping, stimuli: xr.Dataset, out_path, *, params: Mapping,
                     inputs=(), seed: int = 0, block_bytes: int = DEFAULT_BLOCK_BYTES,
                     on_commit: Callable[[int], None] | None = None) -> Path:
    """Extract pooled (and optionally reduced) activations of the chosen layers to a store.

    Parameters
    ----------
    spec : dict
        Model spec (:data:`~brainalign.models.spec.MODEL_SPEC_SCHEMA`).
    stimuli : xarray.Dataset
        Dimension ``stimulus``, coordinate ``stimulus_id``, variable ``image``
        ``(stimulus, y, x, channel)`` uint8 and/or ``text`` ``(stimulus,)`` str.
    out_path : path
        The features store to write (atomically; ``<out_path>.partial`` while running).
    params, inputs, seed
        Provenance (:func:`brainalign.store.provenance`); a partial store resumes only if
        they match. ``seed`` also seeds the reduction unless ``reduce.seed`` is given.
    block_bytes : int
        Bytes of one write block, all layers together (:mod:`~brainalign.models.writer`): the
        store's row chunk is as many whole batches as fit (one at least, 1024 rows at most,
        all rows if they fit). Does not change the values.
    on_commit : callable, optional
        Called (on the writer's thread) with the number of rows written after each commit.

    Returns
    -------
    Path of the complete store: groups ``<layer>`` with ``features`` ``(stimulus, unit)``
    float32 and the stimulus set's coordinates on ``stimulus``; root attributes ``model``, ``preprocessing``, ``input``, ``layers``, ``reduce``,
    ``batch_size``, ``device``, ``precision``; group attributes ``output_shape`` (per stimulus,
    ``None`` for a batch-dependent token count), ``pooling``, ``n_units_pooled``, ``reduction``.
    """
    spec = validate_spec(spec)
    model = load_model(spec)
    device = resolve_device(spec["device"])
    model.module.to(device)
    layers = select_layers(model.module, spec["layers"])
    n, batch_size = stimuli.sizes["stimulus"], spec["batch_size"]
    reduce = dict(spec["reduce"]) if "reduce" in spec else None
    if reduce:
        reduce.setdefault("seed", seed)
    store = StreamingStore(out_path, stage="features", params=params, inputs=inputs, n_rows=n,
                           seed=seed)
    with deterministic(device):
        run = _PooledForward(model, spec, layers, device)
        fitted = {}
        if reduce and reduce["method"] == "pca" and store.rows_done < n:
            fitted = _fit_pca(reduce, run, stimuli, batch_size, reduce["seed"])

        def reducer_for(layer: str, units: int):
            if reduce and reduce["method"] == "srp" and units > reduce["n_components"]:
                return SparseRandomProjection(reduce["n_components"], reduce["seed"]).fit(units)
            return fitted.get(layer)

        with FeatureWriter(store, stimuli["stimulus_id"].values, batch_size=batch_size,
                           reducer_for=reducer_for, attrs_for=lambda *a: _layer_attrs(run, *a),
                           block_bytes=block_bytes, on_commit=on_commit,
                           stimulus_coords=stimulus_coords(stimuli)) as writer:
            starts = range(store.rows_done, n, batch_size)
            for start in progress(starts, desc="features", unit="batch"):
                rows = slice(start, min(start + batch_size, n))
                writer.add(start, run(stimulus_rows(stimuli, model.input_kind, rows)))
    store.set_attrs(None, _jsonable({
        **model.describe(), "layers": layers, "reduce": reduce, "batch_size": batch_size,
        "device": str(device), "precision": spec["precision"]}))
    return store.finish()


def list_layers(spec: Mapping, stimuli: xr.Dataset) -> list[tuple[str, tuple]]:
    """Every layer of the model with its output shape ``(batch, ...)`` on the first batch of
    ``stimuli`` (modules whose output holds no tensor are left out)."""
    spec = validate_spec(spec)
    model = load_model(spec)
    device = resolve_device(spec["device"])
    model.module.to(device)
    names = layer_names(model.module)
    n = min(spec["batch_size"], stimuli.sizes["stimulus"])
    recorder = LayerRecorder(model.module, names, on_output=lambda _, x: tuple(x.shape),
                             skip_non_tensor=True)
    inputs = model.preprocess(stimulus_rows(stimuli, model.input_kind, slice(0, n))).to(device)
    with recorder, torch.inference_mode(), autocast(device, spec["precision"]):
        model.forward(inputs)
    shapes = recorder.take(strict=False)
    return [(name, shapes[name]) for name in names if name in shapes]
