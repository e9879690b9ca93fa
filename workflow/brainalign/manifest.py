"""A store's manifest: every file it is made of, so that a missing or damaged file is found
before the store is read.

``manifest.json`` at a store's root maps each file's path (relative, ``/``-separated) to
``[size, sha256]``. It is written when the store is committed (:func:`write_manifest`, checksums
taken then) and checked whenever a stage opens the store (:func:`verify_files`: names and sizes
only). The root ``zarr.json`` is left out: it holds the non-deterministic ``created`` attribute
and is parsed (so checked) on every open; the manifest itself and Snakemake's
``.snakemake_timestamp`` are left out too.

Why sizes at open and checksums at commit: a deleted or truncated chunk (the damage that a
killed copy, a full disk or a careless ``rm`` leaves) changes a file's size, and a ``stat`` per
file costs microseconds however large the store (``bench/bench_manifest.py``: a 10,000 x 16,000
float32 store, 640 MB, is checked in about a millisecond, where re-reading and hashing it takes
about a second). The checksums make a store's content hash cheap (:func:`manifest_digest`: the
hash of its manifest, not of its bytes), so the input hashes recorded in each store's
provenance can be compared with the inputs' current ones on every open; :func:`verify_files`
with ``checksums=True`` re-reads every file for a full check.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .errors import InputError

MANIFEST = "manifest.json"
SNAKEMAKE_TIMESTAMP = ".snakemake_timestamp"
_SKIP = {MANIFEST, SNAKEMAKE_TIMESTAMP}


class StoreError(InputError):
    """A store that must not be read (damaged, incomplete or stale); the message names it and
    says what to do (a named input error: the command line prints it as one line)."""


def _rerun_hint(path) -> str:
    return f"delete {path} and rerun (Snakemake then rewrites it)"


def file_sha256(path: Path) -> str:
    """SHA-256 of one file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(2**20), b""):
            h.update(block)
    return h.hexdigest()


def store_files(root: Path) -> list[str]:
    """Relative paths of the files a manifest covers, sorted."""
    out = []
    for dirpath, _, files in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        for name in files:
            if name in _SKIP or (rel == Path(".") and name == "zarr.json"):
                continue
            out.append((rel / name).as_posix())
    return sorted(out)


def write_manifest(root, checksums: bool = True, previous: dict | None = None) -> dict:
    """Record the files under ``root`` (size, and SHA-256 with ``checksums``) in
    ``root/manifest.json``, written atomically. ``previous`` entries whose size is unchanged
    are kept without re-reading their file. Returns the entries."""
    root = Path(root)
    previous = previous or {}
    entries = {}
    for rel in store_files(root):
        size = (root / rel).stat().st_size
        old = previous.get(rel)
        if old is not None and old[0] == size and (old[1] or not checksums):
            entries[rel] = old
        else:
            entries[rel] = [size, file_sha256(root / rel) if checksums else None]
    tmp = root / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps({"files": entries}, sort_keys=True, separators=(",", ":")))
    os.replace(tmp, root / MANIFEST)
    return entries


def read_manifest(root) -> dict | None:
    """The entries of ``root``'s manifest, or None when it has none."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())["files"]
    except (ValueError, KeyError) as err:
        raise StoreError(f"damaged store {root}: its {MANIFEST} is unreadable ({err}); "
                         f"{_rerun_hint(root)}") from None


def verify_files(root, entries: dict, checksums: bool = False) -> None:
    """Raise :class:`StoreError` naming ``root`` and the first file that is missing or has
    another size (or, with ``checksums``, other contents) than ``entries`` record."""
    root = Path(root)
    for rel, (size, digest) in entries.items():
        try:
            actual = (root / rel).stat().st_size
        except FileNotFoundError:
            raise StoreError(f"damaged store {root}: file {rel} is missing; "
                             f"{_rerun_hint(root)}") from None
        if actual != size:
            raise StoreError(f"damaged store {root}: file {rel} has {actual} bytes, "
                             f"{size} were written; {_rerun_hint(root)}")
        if checksums and digest and file_sha256(root / rel) != digest:
            raise StoreError(f"damaged store {root}: file {rel} has changed since it was written; "
                             f"{_rerun_hint(root)}")


def manifest_digest(root, entries: dict) -> str:
    """Content hash of a store from its manifest: SHA-256 over the sorted ``path, size, sha256``
    entries and the root ``zarr.json`` without its ``created`` attribute."""
    h = hashlib.sha256()
    for rel in sorted(entries):
        size, digest = entries[rel]
        h.update(f"{rel}\0{size}\0{digest}\n".encode())
    meta = json.loads((Path(root) / "zarr.json").read_bytes())
    meta.get("attributes", {}).pop("created", None)
    h.update(json.dumps(meta, sort_keys=True).encode())
    return h.hexdigest()
