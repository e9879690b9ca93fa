"""Reading and writing brainalign's Zarr (v3) stores: the only module that calls zarr.

Every stage output is one directory store that ``xarray.open_zarr`` (one group) or
``xarray.open_datatree`` (several groups: one per layer in a features store, one per ROI in
a brain store) opens. This module keeps the storage contract of ``shared/DESIGN.md``:

* **chunks**: rows (``stimulus``/``trial``) in chunks of at most 1024; ``unit`` chunks sized
  so that one chunk holds about :data:`TARGET_CHUNK_BYTES`, and at most :data:`UNIT_BLOCK` units
  beside a row dimension (the column block a reader takes at once: encoding's voxel chunks, RSA's
  stimulus means), so that reading a block of units decodes that block and no more;
* **provenance** root attributes ``brainalign_version``, ``stage``, ``params`` (the stage's
  resolved config), ``inputs`` (path -> content hash), ``seed`` and ``created`` (the only
  non-deterministic one). Attributes are native JSON values: a mapping or a list is stored as
  such (``attrs["params"]["rdm"]``, ``attrs["inputs"][path]``), never as a JSON-encoded string,
  and ``params`` holds only JSON types (other values as their ``str``), keys sorted;
* **atomic writes**: a store is written under a temporary sibling path and renamed into place
  when complete, so a failed or killed stage leaves nothing that looks complete;
* **verified reads**: float arrays are created with a NaN fill value (a chunk that is missing
  reads as NaN, never as a plausible 0); every store carries a manifest of its files
  (:mod:`brainalign.manifest`) written when it is committed, and :func:`open_dataset` and
  :func:`open_tree` check it, and compare the input hashes in its provenance with the inputs'
  current ones, before anything is read (:func:`verify_store`).

:class:`StreamingStore` writes arrays row block by row block (feature extraction) and can
resume a killed write from its last complete block.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import shutil
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr
import zarr
from zarr.codecs import BloscCodec, ZstdCodec

from . import __version__
from .manifest import (MANIFEST, SNAKEMAKE_TIMESTAMP, StoreError, manifest_digest, read_manifest,
                       verify_files, write_manifest)

ROW_DIMS = ("stimulus", "trial")
MAX_ROW_CHUNK = 1024
TARGET_CHUNK_BYTES = 32 * 2**20
# units of a (row, unit) chunk: the readers' column block. A wider chunk is decoded whole for each
# block read from it: 4,000-voxel chunks made reading an NSD ROI's betas in 1,024-voxel blocks 3.2x
# slower (3.4 s against 1.1 s for 30,000 trials), and a job's memory grow with the chunk's width.
UNIT_BLOCK = 1024
PROVENANCE_KEYS = ("brainalign_version", "stage", "params", "inputs", "seed", "created")
_PARTIAL_SUFFIX = ".partial"

__all__ = [
    "StoreError",
    "StreamingStore",
    "atomic_directory",
    "atomic_file",
    "chunk_shape",
    "content_hash",
    "group_names",
    "layer_names",
    "open_dataset",
    "open_external_array",
    "open_tree",
    "provenance",
    "read_provenance",
    "store_nbytes",
    "verify_store",
    "write_dataset",
    "write_tree",
]


# --------------------------------------------------------------------------- chunks
def chunk_shape(dims: tuple[str, ...], shape: tuple[int, ...], itemsize: int,
                row_chunk: int = MAX_ROW_CHUNK) -> tuple[int, ...]:
    """Chunk shape under the storage contract.

    Row dimensions (``stimulus``, ``trial``) get ``min(n, row_chunk)`` (``row_chunk`` at most
    1024, the default); the ``unit`` dimension gets ``max(1, TARGET_CHUNK_BYTES // (itemsize *
    prod(other chunk sizes)))``, at most :data:`UNIT_BLOCK` beside a row dimension; every other
    dimension is kept whole. Arrays smaller than one target chunk are stored as a single chunk
    (up to :data:`UNIT_BLOCK` units).
    """
    if not 1 <= row_chunk <= MAX_ROW_CHUNK:
        raise ValueError(f"row_chunk: expected 1 to {MAX_ROW_CHUNK} rows, got {row_chunk}")
    chunks = [min(n, row_chunk) if d in ROW_DIMS else n for d, n in zip(dims, shape)]
    if "unit" in dims:
        u = dims.index("unit")
        others = int(np.prod([c for i, c in enumerate(chunks) if i != u], dtype=np.int64)) or 1
        chunks[u] = int(min(shape[u], max(1, TARGET_CHUNK_BYTES // (itemsize * others))))
        if any(d in ROW_DIMS for d in dims):
            chunks[u] = min(chunks[u], UNIT_BLOCK)
    return tuple(max(1, c) for c in chunks)


def _encoding(ds: xr.Dataset) -> dict:
    enc = {}
    for name, var in ds.variables.items():
        if var.dtype.kind in "OUT":  # strings: variable-length UTF-8 takes no chunk size
            continue
        enc[name] = {"chunks": chunk_shape(var.dims, var.shape, var.dtype.itemsize)}
    return enc


def _strings_as_objects(ds: xr.Dataset) -> xr.Dataset:
    """Store fixed-width numpy strings as Zarr v3 variable-length UTF-8 strings."""
    fixes = {n: v.astype(object) for n, v in ds.variables.items() if v.dtype.kind == "U"}
    if not fixes:
        return ds
    ds = ds.copy()
    for name, var in fixes.items():
        if name in ds.coords:
            ds = ds.assign_coords({name: var})
        else:
            ds[name] = var
    return ds


# ----------------------------------------------------------------------- provenance
def content_hash(path: str | os.PathLike) -> str:
    """SHA-256 of a file, or of a directory's relative paths and file contents in sorted order.

    A brainalign store's ``created`` attribute is left out, and so is the
    ``.snakemake_timestamp`` file Snakemake puts in directory outputs, so the hash of a store
    depends only on its data, its parameters and its inputs. A store with a manifest is hashed
    from it (:func:`brainalign.manifest.manifest_digest`: its files' checksums, taken when it
    was written) after its files' sizes are checked, without re-reading its data.
    """
    path = Path(path)
    entries = read_manifest(path) if path.is_dir() else None
    if entries is not None:
        verify_files(path, entries)
        return _root_digest(path, entries)
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.is_file() and p.name != SNAKEMAKE_TIMESTAMP)
    if not files and not path.exists():
        raise FileNotFoundError(f"input {path} does not exist")
    for f in files:
        h.update(str(f.relative_to(path) if f != path else f.name).encode())
        if f.name == "zarr.json" and f.parent == path:
            meta = json.loads(f.read_bytes())
            meta.get("attributes", {}).pop("created", None)
            h.update(json.dumps(meta, sort_keys=True).encode())
            continue
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(2**20), b""):
                h.update(block)
    return h.hexdigest()


def provenance(stage: str, params: Mapping, inputs=(), seed: int | None = None) -> dict:
    """Root attributes of a stage's store (see the module docstring).

    ``inputs`` is a sequence of paths (hashed here) or a mapping path -> hash.
    """
    if not isinstance(inputs, Mapping):
        inputs = {str(p): content_hash(p) for p in inputs}
    return {
        "brainalign_version": __version__,
        "stage": stage,
        "params": json.loads(json.dumps(params, sort_keys=True, default=str)),
        "inputs": dict(sorted((str(k), v) for k, v in inputs.items())),
        "seed": seed,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def read_provenance(path: str | os.PathLike) -> dict:
    """Provenance attributes of a store (``params`` of stores written before it was stored as a
    mapping, a JSON string, decoded)."""
    attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    missing = [k for k in PROVENANCE_KEYS if k not in attrs]
    if missing:
        raise ValueError(f"{path} is not a brainalign store: root attributes {missing} are missing")
    if isinstance(attrs["params"], str):
        attrs["params"] = json.loads(attrs["params"])
    return attrs


# ------------------------------------------------------------------- atomic writing
def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")


def _publish(tmp: Path, path: Path) -> None:
    """Rename a complete temporary store into place, replacing an older store."""
    if path.exists():
        old = _tmp_sibling(path)
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old)
    else:
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_directory(path):
    """Yield a temporary sibling of ``path`` to fill; rename it to ``path`` if the block succeeds.

    On any error the temporary directory is removed, so ``path`` is either absent, the previous
    complete version, or the new complete version. Used for every store and for other directory
    outputs (a simulated BIDS dataset).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    try:
        yield tmp
        _publish(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def atomic_file(path, write) -> Path:
    """Write a plain file (a table, a figure) atomically: ``write(tmp)`` fills a temporary sibling
    with the same suffix (writers that go by the suffix write the right format), which is renamed
    to ``path`` when complete and removed on error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _write_atomically(path, write) -> Path:
    with atomic_directory(path) as tmp:
        write(tmp)
    return Path(path)


def _to_zarr(obj, target: Path, mode: str = "w", group: str | None = None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)  # zarr: "no v3 spec" notices
        obj.to_zarr(target, mode=mode, group=group, zarr_format=3, consolidated=False,
                    encoding=_encoding(obj))


def _consolidate(target: Path) -> None:
    """Consolidate the metadata of a complete store, so ``xarray.open_zarr(path)`` opens it in one
    read (zarr-python's v3 consolidated metadata; plain Zarr readers ignore it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        zarr.consolidate_metadata(str(target), zarr_format=3)


def write_dataset(path, ds: xr.Dataset, *, stage: str, params: Mapping, inputs=(),
                  seed: int | None = None, streamed: Mapping | None = None) -> Path:
    """Write one dataset as a single-group store at ``path``, atomically, with provenance.

    ``streamed`` adds large arrays without holding them whole: name -> ``(dims, shape, dtype,
    blocks, attrs)`` with ``blocks`` an iterable of ``(start, values)`` along the first dimension
    (written in turn, so only one block is in memory at a time).
    """
    ds = _strings_as_objects(ds)
    ds = ds.assign_attrs({**ds.attrs, **provenance(stage, params, inputs, seed)})

    def write(tmp: Path) -> None:
        _to_zarr(ds, tmp)
        if streamed:
            group = zarr.open_group(str(tmp), mode="r+", zarr_format=3)
            for name, (dims, shape, dtype, blocks, attrs) in streamed.items():
                arr = group.create_array(name, shape=tuple(shape), dtype=dtype,
                                         chunks=_streamed_chunks(tuple(shape), np.dtype(dtype).itemsize),
                                         compressors=[_streamed_codec(np.dtype(dtype))],
                                         dimension_names=tuple(dims),
                                         fill_value=np.nan if np.dtype(dtype).kind in "fc" else 0)
                arr.attrs.update(dict(attrs))
                for start, values in blocks:
                    arr[start:start + len(values)] = values
        _consolidate(tmp)
        write_manifest(tmp)

    return _write_atomically(path, write)


def _streamed_codec(dtype: np.dtype):
    """Floats (RDMs): LZ4 after a byte shuffle (Blosc), which on a 10,000-stimulus RDM stores 0.83
    of its bytes, writes 400 MB in 0.6 s and reads it in 0.4 s, where Zstandard level 1 stores
    0.91 in 1.0 and 1.1 s; integers (pair indices): Zstandard level 1 (1 to 12 % of their bytes)."""
    if dtype.kind == "f":
        return BloscCodec(cname="lz4", clevel=5, shuffle="shuffle", typesize=dtype.itemsize)
    return ZstdCodec(level=1)


def _streamed_chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """One row per chunk along the first dimension (rows are written one block at a time) and
    about ``TARGET_CHUNK_BYTES`` along the last."""
    last = max(1, TARGET_CHUNK_BYTES // itemsize)
    return (1,) * (len(shape) - 1) + (int(min(shape[-1], last)),) if len(shape) > 1 else (int(min(shape[0], last)),)


def write_tree(path, groups: Mapping[str, xr.Dataset], *, stage: str, params: Mapping,
               inputs=(), seed: int | None = None, root: xr.Dataset | None = None) -> Path:
    """Write named groups (layers, ROIs) as one store at ``path``, atomically, with provenance.

    ``root`` holds variables shared by every group (for example stimulus metadata).
    """
    for name in groups:
        if not name or "/" in name:
            raise ValueError(f"group name {name!r} must be non-empty and contain no '/'")
    root = _strings_as_objects(root if root is not None else xr.Dataset())
    root = root.assign_attrs({**root.attrs, **provenance(stage, params, inputs, seed)})

    def write(tmp: Path) -> None:
        _to_zarr(root, tmp)
        for name, ds in groups.items():
            _to_zarr(_strings_as_objects(ds), tmp, mode="a", group=name)
        _consolidate(tmp)
        write_manifest(tmp)

    return _write_atomically(path, write)


# -------------------------------------------------------------------------- reading
def _check_complete(path: Path) -> None:
    if not (path / "zarr.json").is_file():
        raise FileNotFoundError(f"no brainalign store at {path} (expected a Zarr v3 directory)")


def _root_digest(path: Path, entries: dict) -> str:
    try:
        return manifest_digest(path, entries)
    except ValueError as err:  # a truncated or garbled root zarr.json
        raise StoreError(f"damaged store {path}: its zarr.json is unreadable ({err}); delete {path} "
                         f"and rerun (Snakemake then rewrites it)") from None


def verify_store(path, checksums: bool = False) -> None:
    """Check a store before it is read; raise :class:`StoreError` naming it if it is damaged
    or stale.

    Every file of its manifest must exist with its recorded size (and, with ``checksums``, its
    recorded SHA-256), its root metadata must parse, and every input recorded in its provenance
    that is a brainalign store must still have the content hash recorded there (a hash from the
    input's manifest: cheap). Inputs that no longer exist at the recorded path, and raw files
    (BIDS data, weights: re-reading them on every open would cost gigabytes; Snakemake reruns a
    stage whose input file changed), are not compared. A store without a manifest (not written
    by this version of brainalign) is refused too. Costs one ``stat`` per file of the store and
    of its input stores (``bench/bench_manifest.py``).
    """
    path = Path(path)
    _check_complete(path)
    entries = read_manifest(path)
    if entries is None:
        raise StoreError(f"store {path} has no {MANIFEST} (written by an older brainalign, or "
                         f"not by brainalign); delete it and rerun")
    verify_files(path, entries, checksums)
    _root_digest(path, entries)
    recorded = json.loads((path / "zarr.json").read_bytes()).get("attributes", {}).get("inputs") or {}
    for name, digest in recorded.items():
        if (Path(name) / MANIFEST).is_file() and content_hash(name) != digest:
            raise StoreError(f"stale store {path}: its input {name} has changed since it was computed; "
                             f"delete {path} and rerun (Snakemake then recomputes it)")


def _decode_strings(ds: xr.Dataset) -> xr.Dataset:
    """numpy ``StringDType`` arrays (how zarr returns strings) as fixed-width ``str`` arrays, so that
    ``.astype(str)``, comparisons and pandas work as on any other string array."""
    fixes = {n: (v.dims, np.array(v.values.tolist(), dtype=str), v.attrs)
             for n, v in ds.variables.items() if v.dtype.kind == "T"}
    return ds.assign_coords({n: f for n, f in fixes.items() if n in ds.coords}).assign(
        {n: f for n, f in fixes.items() if n not in ds.coords})


def open_dataset(path, group: str | None = None) -> xr.Dataset:
    """Open one group of a store lazily (``xarray.open_zarr``) once verified (:func:`verify_store`);
    string variables are decoded."""
    path = Path(path)
    verify_store(path)
    return _decode_strings(xr.open_zarr(path, group=group, zarr_format=3))


def open_external_array(path) -> zarr.Array:
    """Open a Zarr array that is not a brainalign store (betas given as a Zarr array), read-only.

    Raises ``ValueError`` naming ``path`` when it holds no Zarr array."""
    try:
        node = zarr.open(str(path), mode="r")
    except Exception as err:  # zarr raises several types for a folder that is not a store
        raise ValueError(f"{path} is not a readable Zarr array: {type(err).__name__}: {err}") from None
    if not isinstance(node, zarr.Array):
        raise ValueError(f"{path} is a Zarr group, not an array: give the path of the array inside it")
    return node


def open_tree(path) -> xr.DataTree:
    """Open a store with all its groups (``xarray.open_datatree``), once verified."""
    path = Path(path)
    verify_store(path)
    return xr.open_datatree(path, engine="zarr", zarr_format=3)


def group_names(path) -> list[str]:
    """Names of the groups directly below a store's root (layers, ROIs), sorted."""
    root = zarr.open_group(str(path), mode="r")
    return sorted(name for name, _ in root.groups())


def store_nbytes(path) -> int:
    """Uncompressed size in bytes of every array in a store, from its metadata alone.

    ``sum over arrays of prod(shape) * itemsize`` (variable-length strings count 16 bytes per
    element); no chunk is read, so sizing a job from a large store is cheap. Used by the rules to
    request memory and time (``rules/common.smk``).
    """
    path = Path(path)
    _check_complete(path)
    root = zarr.open_group(str(path), mode="r")
    return int(sum(node.nbytes for _, node in root.members(max_depth=None) if isinstance(node, zarr.Array)))


def dimension_sizes(path) -> dict[str, dict[str, int]]:
    """Length of every named dimension of every group of a store (``""``: the root), from its
    metadata alone (no chunk is read), e.g. ``{"V1": {"trial": 30000, "unit": 4000}}``."""
    path = Path(path)
    _check_complete(path)
    sizes: dict[str, dict[str, int]] = {}
    for name, node in zarr.open_group(str(path), mode="r").members(max_depth=None):
        if isinstance(node, zarr.Array) and node.metadata.dimension_names:
            group = name.rpartition("/")[0]
            sizes.setdefault(group, {}).update(zip(node.metadata.dimension_names, node.shape))
    return sizes


def layer_names(path) -> list[str]:
    """Layers of a features store in network order (its root attribute ``layers``)."""
    attrs = zarr.open_group(str(path), mode="r").attrs
    if "layers" not in attrs:
        raise ValueError(f"{path} is not a features store: it has no root attribute 'layers'")
    return list(attrs["layers"])


# ------------------------------------------------------------------------ streaming
class StreamingStore:
    """Write a store's arrays block by block along their first (row) dimension, resumably.

    Rows are written to ``<path>.partial``; the number of complete rows and a fingerprint of the
    job (``params`` and ``inputs``) are kept in its root attributes. Opening a partial store whose
    fingerprint matches resumes it (:attr:`rows_done` says where); one whose fingerprint differs
    is discarded. :meth:`finish` adds provenance and renames the store into place.

    >>> with StreamingStore(out, stage="features", params=p, inputs=[stim], n_rows=96) as s:
    ...     s.create("conv1", "features", ("stimulus", "unit"), (96, 4096), "float32",
    ...              coords={"stimulus_id": ("stimulus", ids)})
    ...     for start in range(s.rows_done, 96, 32):
    ...         s.write_rows("conv1", "features", start, block)
    ...         s.commit_rows(start + len(block))
    ...     s.finish()
    """

    def __init__(self, path, *, stage: str, params: Mapping, inputs=(), n_rows: int,
                 seed: int | None = None):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + _PARTIAL_SUFFIX)
        self.n_rows = int(n_rows)
        self._prov = provenance(stage, params, inputs, seed)
        self._fingerprint = hashlib.sha256(
            json.dumps([self._prov["params"], self._prov["inputs"], self.n_rows]).encode()
        ).hexdigest()
        self._root = self._open_or_reset()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False  # a partial store stays on disk so that a rerun can resume it

    def _open_or_reset(self) -> zarr.Group:
        if self.partial.exists():
            try:
                root = zarr.open_group(str(self.partial), mode="r+", zarr_format=3)
                if root.attrs.get("fingerprint") == self._fingerprint:
                    self._manifest = read_manifest(self.partial) or {}
                    verify_files(self.partial, self._manifest)
                    return root
            except StoreError as err:  # committed rows damaged since: redo them all
                warnings.warn(f"{err.args[0].split(';')[0]}; its rows are extracted again",
                              stacklevel=3)
            except Exception:  # unreadable leftovers of a killed run: start afresh
                pass
            shutil.rmtree(self.partial)
        self._manifest = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        root = zarr.open_group(str(self.partial), mode="w", zarr_format=3)
        root.attrs.update({"fingerprint": self._fingerprint, "rows_done": 0})
        return root

    @property
    def rows_done(self) -> int:
        """Rows (along the first dimension) already written by this or an earlier run."""
        return int(self._root.attrs["rows_done"])

    def _group(self, group: str | None) -> zarr.Group:
        return self._root if not group else self._root.require_group(group)

    def create(self, group: str | None, name: str, dims: tuple[str, ...], shape, dtype,
               coords: Mapping | None = None, attrs: Mapping | None = None,
               row_chunk: int = MAX_ROW_CHUNK, unit_chunk: int | None = None) -> None:
        """Create an array (if a resumed store lacks it) and write its coordinates in full.

        ``coords`` maps a coordinate name to ``(dim, values)``; ``attrs`` go on the array;
        ``row_chunk`` caps the rows of a chunk (:func:`chunk_shape`): the rows the writer
        writes at once; ``unit_chunk`` replaces the ``unit`` chunk size (scratch arrays read
        a few units at a time). Chunks are compressed with Zstandard level 1, which on float
        features compresses as well as the default level 3 in two thirds of the time.
        """
        g = self._group(group)
        if name not in g:
            chunks = chunk_shape(tuple(dims), tuple(shape), np.dtype(dtype).itemsize, row_chunk)
            if unit_chunk is not None and "unit" in dims:
                chunks = tuple(min(n, unit_chunk) if d == "unit" else c for d, n, c in zip(dims, shape, chunks))
            fill = np.nan if np.dtype(dtype).kind in "fc" else 0  # a missing float chunk reads NaN
            arr = g.create_array(name, shape=tuple(shape), dtype=dtype, chunks=chunks,
                                 compressors=[ZstdCodec(level=1)],
                                 dimension_names=tuple(dims), fill_value=fill)
            arr.attrs.update(dict(attrs or {}))
            coord_names = []
            for cname, (cdim, values) in (coords or {}).items():
                self._write_coord(g, cname, cdim, np.asarray(values))
                coord_names.append(cname)
            if coord_names:
                arr.attrs["coordinates"] = " ".join(coord_names)

    @staticmethod
    def _write_coord(g: zarr.Group, name: str, dim: str, values: np.ndarray) -> None:
        if name in g:
            return
        if values.dtype.kind in "UO":
            c = g.create_array(name, shape=values.shape, dtype=str, dimension_names=(dim,))
            c[:] = values.astype(str).astype(object)
        else:
            c = g.create_array(name, shape=values.shape, dtype=values.dtype, dimension_names=(dim,))
            c[:] = values

    def write_rows(self, group: str | None, name: str, start: int, values: np.ndarray) -> None:
        """Write ``values`` into rows ``start : start + len(values)`` of an array."""
        self._group(group)[name][start:start + len(values)] = values

    def read(self, group: str | None, name: str, index=slice(None)) -> np.ndarray:
        """Read back part of an array written so far (``index``: a numpy-style index)."""
        return np.asarray(self._group(group)[name][index])

    def commit_rows(self, rows_done: int) -> None:
        """Record that every array is complete up to row ``rows_done`` (call after each block):
        the partial store's manifest (names and sizes of the files written so far) first, so
        that a resumed run finds a chunk deleted or truncated since, then ``rows_done``."""
        self._manifest = write_manifest(self.partial, checksums=False, previous=self._manifest)
        self._root.attrs["rows_done"] = int(rows_done)

    def set_attrs(self, group: str | None, attrs: Mapping) -> None:
        """Set attributes of a group (or of the root when ``group`` is None)."""
        self._group(group).attrs.update(dict(attrs))

    def finish(self) -> Path:
        """Check every row is written, add provenance, and rename the store into place."""
        if self.rows_done != self.n_rows:
            raise RuntimeError(f"{self.partial}: {self.rows_done} of {self.n_rows} rows written")
        attrs = dict(self._root.attrs)
        for key in ("fingerprint", "rows_done"):
            attrs.pop(key)
        attrs.update(self._prov)
        self._root.attrs.put(attrs)
        _consolidate(self.partial)
        write_manifest(self.partial, previous=self._manifest)
        _publish(self.partial, self.path)
        return self.path
