"""Writing pooled feature rows to a features store, one row block at a time, on a writer thread.

Rows arrive one batch at a time from the forward passes. Zarr compresses whole chunks, and a
write that covers part of a chunk reads, decompresses and rewrites it; so the store's row chunk
is one *write block* of

    block_rows = n                                         if n <= cap,
               = batch_size * max(1, floor(cap / batch_size))  otherwise (whole batches),
    cap        = min(1024, block_bytes // (4 * sum of the layers' units))

rows (1024 when one batch is larger than that). Each batch's rows are copied into the
block being filled; a full block goes to one writer thread, which compresses and writes it,
then commits the rows (the store's ``rows_done``, always at a batch end, so that a resumed run
forms the same batches), in order, while the forward passes fill the next block. At most two
blocks exist (one filling, one being written; a full block waits for the writer), so memory is
two blocks (``block_bytes`` each, or one batch if that is larger) plus a batch, whatever the
number of stimuli; and writing
overlaps the forward passes. The block size depends only on the number of rows, the batch size
and the layers' widths, so a resumed run writes the same chunks.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import numpy as np

from ..store import MAX_ROW_CHUNK, StreamingStore

DEFAULT_BLOCK_BYTES = 16 * 2**20


def block_rows(n_rows: int, batch_size: int, row_bytes: int, block_bytes: int) -> int:
    """Rows per write block (and row chunk): see the module docstring."""
    cap = min(MAX_ROW_CHUNK, block_bytes // max(1, row_bytes))
    if n_rows <= cap:
        return max(1, n_rows)
    return batch_size * max(1, cap // batch_size) if batch_size <= MAX_ROW_CHUNK else MAX_ROW_CHUNK


class FeatureWriter:
    """Append pooled rows ``{layer: (batch, units)}`` to ``store``, reduced, in row blocks.

    Use as a context manager: leaving it waits for the writer thread (after an error, without
    writing what is still queued) and raises any error the thread met.

    Parameters
    ----------
    store : StreamingStore
        Open store; writing continues at its ``rows_done``.
    stimulus_ids : array of str
        All ``n`` stimulus ids (the ``stimulus_id`` coordinate of every group).
    batch_size : int
        Rows per batch (the last batch may be shorter).
    reducer_for : callable
        ``(layer, units) -> reducer or None``, called once per layer; a reducer has
        ``transform(x) -> (batch, k)`` and ``n_components``.
    attrs_for : callable
        ``(layer, units, reducer) -> dict`` of the layer group's attributes.
    block_bytes : int
        Bytes of one write block, all layers together; a block holds one batch at least.
    on_commit : callable, optional
        Called with ``rows_done`` after each commit, on the writer thread; an exception it
        raises stops the writing and is raised again by :meth:`add` or on leaving.
    stimulus_coords : mapping, optional
        Further coordinates on ``stimulus`` of every group, ``{name: ("stimulus", values)}``
        (the stimulus set's metadata: category, concept, ...).
    """

    def __init__(self, store: StreamingStore, stimulus_ids, *, batch_size: int,
                 reducer_for: Callable, attrs_for: Callable,
                 block_bytes: int = DEFAULT_BLOCK_BYTES,
                 on_commit: Callable[[int], None] | None = None, stimulus_coords=None):
        self.store = store
        self.stimulus_coords = dict(stimulus_coords or {})
        self.ids = np.asarray(stimulus_ids).astype(str)
        self.n_rows, self.batch_size = len(self.ids), int(batch_size)
        self.reducer_for, self.attrs_for = reducer_for, attrs_for
        self.block_bytes = int(block_bytes)
        self.on_commit = on_commit
        self.stop = self.last_batch_end = store.rows_done  # rows received so far
        self.block_rows = 0  # fixed by the first batch
        self.widths: dict[str, int] = {}  # units in, per layer
        self.out_units: dict[str, int] = {}  # units stored (after a reduction), per layer
        self.reducers: dict[str, object] = {}
        self._filling: dict[str, np.ndarray] | None = None
        self._block_start = self.stop
        self._n_blocks = 0  # buffer sets allocated (at most 2)
        self._free: queue.Queue = queue.Queue()
        self._jobs: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._abort = False
        self._thread = threading.Thread(target=self._work, name="feature-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ main thread
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self._abort = exc_type is not None
        self._jobs.put(None)
        self._thread.join()
        if exc_type is None:
            self._raise_error()
        return False

    def add(self, start: int, pooled: dict[str, np.ndarray]) -> None:
        """Append the rows ``start : start + batch`` of every layer; hand full blocks on."""
        self._raise_error()
        if start != self.stop:
            raise ValueError(f"rows must arrive in order: expected row {self.stop}, got {start}")
        rows = {layer: self._reduced(layer, x, start) for layer, x in pooled.items()}
        if not self.block_rows:
            self._first_batch(rows)
        n_batch = len(next(iter(rows.values())))
        batch_end = start + n_batch
        done = 0
        while done < n_batch:
            if self._filling is None:
                self._filling = self._take_block()
            block_end = min(self.n_rows, (self._block_start // self.block_rows + 1)
                            * self.block_rows)
            take = min(n_batch - done, block_end - self.stop)
            offset = self.stop - self._block_start
            for layer, y in rows.items():
                self._filling[layer][offset:offset + take] = y[done:done + take]
            done += take
            self.stop += take
            if self.stop == block_end:  # commit up to the last batch end in the block
                self._submit(batch_end if self.stop == batch_end else self.last_batch_end)
        self.last_batch_end = batch_end

    def _reduced(self, layer: str, x: np.ndarray, start: int) -> np.ndarray:
        if layer not in self.widths:
            self.widths[layer] = x.shape[1]
            self.reducers[layer] = self.reducer_for(layer, x.shape[1])
        elif x.shape[1] != self.widths[layer]:
            raise ValueError(f"layer {layer!r} gave {x.shape[1]} units for rows "
                             f"{start}:{start + len(x)} but {self.widths[layer]} before")
        reducer = self.reducers[layer]
        return reducer.transform(x) if reducer is not None else x

    def _first_batch(self, rows: dict[str, np.ndarray]) -> None:
        """Fix the block size from the layers' widths and create the arrays (on the thread)."""
        self.out_units = {layer: y.shape[1] for layer, y in rows.items()}
        row_bytes = 4 * sum(self.out_units.values())
        self.block_rows = block_rows(self.n_rows, self.batch_size, row_bytes, self.block_bytes)
        for layer, units in self.out_units.items():
            attrs = self.attrs_for(layer, self.widths[layer], self.reducers[layer])
            self._jobs.put((self._create, (layer, units, attrs)))

    def _take_block(self) -> dict[str, np.ndarray]:
        """A free block, a new one while fewer than two exist, or the next the writer frees."""
        if self._free.empty() and self._n_blocks < 2:
            self._n_blocks += 1
            return {layer: np.empty((self.block_rows, units), dtype=np.float32)
                    for layer, units in self.out_units.items()}
        block = self._free.get()
        self._raise_error()
        return block

    def _submit(self, commit_to: int) -> None:
        """Queue the full block for writing, then committing rows up to ``commit_to``."""
        job = (self._write, (self._filling, self._block_start, self.stop, commit_to))
        self._jobs.put(job)
        self._filling, self._block_start = None, self.stop

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    # ------------------------------------------------------------------ writer thread
    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, args = job
            try:
                if self._error is None and not self._abort:
                    fn(*args)
            except BaseException as err:  # noqa: BLE001  re-raised on the main thread
                self._error = err
            finally:
                if fn == self._write:  # the block is free again, written or not
                    self._free.put(args[0])

    def _create(self, layer: str, units: int, attrs: dict) -> None:
        self.store.create(layer, "features", ("stimulus", "unit"), (self.n_rows, units),
                          "float32", coords={"stimulus_id": ("stimulus", self.ids), **self.stimulus_coords},
                          row_chunk=self.block_rows)
        self.store.set_attrs(layer, attrs)

    def _write(self, block: dict[str, np.ndarray], start: int, stop: int,
               commit_to: int) -> None:
        for layer, rows in block.items():
            self.store.write_rows(layer, "features", start, rows[:stop - start])
        if commit_to > self.store.rows_done:
            self.store.commit_rows(commit_to)
            if self.on_commit is not None:
                self.on_commit(commit_to)
