"""Failures that name what is at fault: the file, store or key, and what to do about it.

A stage raises :class:`InputError` for an input it cannot use (a weights file that is not a
PyTorch file, a mask that is not NIfTI, an unreadable image): ``brainalign`` prints its message as
one line, ``brainalign <stage>: error: ...``, and exits with status 1. Any other exception is
printed the same way, followed by its traceback; :func:`describe` names the Zarr store and array
that was being read when it happened (found in the traceback's frames), and says when the store
looks damaged (a chunk that cannot be decompressed, metadata that is not JSON).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from .config import ConfigError


class InputError(ValueError):
    """An input file, store or setting that a stage cannot use; the message names it and says
    what to do. Printed without a traceback."""


# errors whose message names what is at fault and what to do: printed without a traceback
NAMED = (InputError, ConfigError)

# Messages of errors raised while decoding a chunk (numcodecs, zarr's codec pipeline) or
# reshaping a truncated uncompressed one.
_DAMAGE_WORDS = ("decompress", "decod", "codec", "buffer", "reshape", "truncat")


@contextlib.contextmanager
def reading(path, what: str, fix: str, label: str = ""):
    """Turn any error raised in the block, while reading ``path``, into an :class:`InputError`
    ``"<label>: <path> cannot be read as <what> (<error>); <fix>"``."""
    try:
        yield
    except NAMED:
        raise
    except Exception as err:
        detail = " ".join(f"{type(err).__name__}: {err}".split())[:300]
        raise InputError(f"{label + ': ' if label else ''}{path} cannot be read as {what} ({detail}); {fix}") from err


def _store_path_in(tb):
    """(store root, path inside it) of the innermost Zarr ``StorePath`` among the local variables
    of the traceback's frames, or None."""
    found = None
    while tb is not None:
        for value in list(tb.tb_frame.f_locals.values()):
            if type(value).__name__ == "StorePath" and hasattr(getattr(value, "store", None), "root"):
                found = value
        tb = tb.tb_next
    return None if found is None else (Path(found.store.root), found.path)


def damaged_store_message(root: Path, inner: str, err: BaseException) -> str:
    """One line naming a damaged store (and the array or group in it) and what to do."""
    where = f"store {root}" + (f", array or group '{inner}'" if inner else "")
    return f"{where} is damaged ({type(err).__name__}: {err}): delete the store and rerun to rebuild it"


def describe(err: BaseException) -> str:
    """One line describing ``err``: the message of an :class:`InputError` or ``ConfigError`` as it
    is; otherwise its type and message, with the Zarr store being read when it happened, if any."""
    if isinstance(err, NAMED):
        return str(err)
    text = " ".join(f"{type(err).__name__}: {err}".split())
    located = _store_path_in(err.__traceback__)
    if located is None:
        return text
    root, inner = located
    if isinstance(err, (json.JSONDecodeError, UnicodeDecodeError)) or (
            isinstance(err, (RuntimeError, ValueError, OSError)) and any(w in str(err).lower() for w in _DAMAGE_WORDS)):
        return damaged_store_message(root, inner, err)
    return f"{text} (while reading store {root}" + (f", '{inner}')" if inner else ")")
