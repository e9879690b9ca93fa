"""Writing pooled feature rows to a features store: one ``features`` array per layer group.

Rows arrive one batch at a time. Zarr stores an array in chunks of up to 1024 rows, and a
write that covers part of a chunk has to read, decompress, recompress and rewrite the whole
chunk; written batch by batch, a 1024-row chunk would be rewritten ``1024 / batch_size`` times.
So rows wait in a buffer until the batch that reaches (or crosses) the end of a row chunk, or
until the buffer holds ``max_buffer_bytes`` (default 64 MiB); then they are written and
committed (the store's ``rows_done``). Memory is bounded by one batch plus that buffer (plus one
layer's rows while flushing), whatever the number of stimuli. ``max_buffer_bytes=0`` writes and
commits every batch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..store import MAX_ROW_CHUNK, StreamingStore

DEFAULT_BUFFER_BYTES = 64 * 2**20


class FeatureWriter:
    """Append pooled rows ``{layer: (batch, units)}`` to ``store``, reduced and buffered.

    Parameters
    ----------
    store : StreamingStore
        Open store; writing continues at its ``rows_done``.
    stimulus_ids : array of str
        All ``n`` stimulus ids (the ``stimulus_id`` coordinate of every group).
    reducer_for : callable
        ``(layer, units) -> reducer or None``, called once per layer; a reducer has
        ``transform(x) -> (batch, k)`` and ``n_components``.
    attrs_for : callable
        ``(layer, units, reducer) -> dict`` of the layer group's attributes.
    max_buffer_bytes : int
        Flush early once the buffered rows take this many bytes.
    on_commit : callable, optional
        Called with ``rows_done`` after each flush.
    """

    def __init__(self, store: StreamingStore, stimulus_ids, *, reducer_for: Callable,
                 attrs_for: Callable, max_buffer_bytes: int = DEFAULT_BUFFER_BYTES,
                 on_commit: Callable[[int], None] | None = None):
        self.store = store
        self.ids = np.asarray(stimulus_ids).astype(str)
        self.n_rows = len(self.ids)
        self.row_chunk = max(1, min(self.n_rows, MAX_ROW_CHUNK))
        self.reducer_for, self.attrs_for = reducer_for, attrs_for
        self.max_buffer_bytes = int(max_buffer_bytes)
        self.on_commit = on_commit
        self.start = self.stop = store.rows_done  # buffered rows: start:stop
        self.widths: dict[str, int] = {}
        self.reducers: dict[str, object] = {}
        self.blocks: dict[str, list[np.ndarray]] = {}

    def _create(self, layer: str, units: int) -> None:
        reducer = self.reducer_for(layer, units)
        self.widths[layer], self.reducers[layer] = units, reducer
        out_units = reducer.n_components if reducer is not None else units
        self.store.create(layer, "features", ("stimulus", "unit"), (self.n_rows, out_units),
                          "float32", coords={"stimulus_id": ("stimulus", self.ids)})
        self.store.set_attrs(layer, self.attrs_for(layer, units, reducer))

    def add(self, start: int, pooled: dict[str, np.ndarray]) -> None:
        """Buffer the rows ``start : start + batch`` of every layer; flush when due."""
        if start != self.stop:
            raise ValueError(f"rows must arrive in order: expected row {self.stop}, got {start}")
        stop = start + len(next(iter(pooled.values())))
        for layer, x in pooled.items():
            if layer not in self.widths:
                self._create(layer, x.shape[1])
            elif x.shape[1] != self.widths[layer]:
                raise ValueError(f"layer {layer!r} gave {x.shape[1]} units for rows "
                                 f"{start}:{stop} but {self.widths[layer]} before")
            reducer = self.reducers[layer]
            y = reducer.transform(x) if reducer is not None else x
            self.blocks.setdefault(layer, []).append(np.asarray(y, dtype=np.float32))
        self.stop = stop
        buffered = sum(b.nbytes for blocks in self.blocks.values() for b in blocks)
        if (stop // self.row_chunk > self.start // self.row_chunk or stop == self.n_rows
                or buffered >= self.max_buffer_bytes):
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows of every layer and commit them."""
        if self.stop == self.start:
            return
        for layer in list(self.blocks):  # one layer at a time: one extra copy at most
            self.store.write_rows(layer, "features", self.start,
                                  np.concatenate(self.blocks.pop(layer)))
        self.store.commit_rows(self.stop)
        self.start = self.stop
        if self.on_commit is not None:
            self.on_commit(self.stop)
