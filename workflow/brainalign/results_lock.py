"""One run at a time per results folder, and no leftovers of killed stages.

Snakemake locks its working directory only: two runs started from different folders with one
absolute ``results_dir`` would write the same stores. The Snakefile takes a :class:`ResultsLock`
(a file ``.brainalign.lock`` in ``results_dir``, created exclusively, holding the host, process id
and start time of the run) when jobs are about to start, and releases it when the run ends. A lock
left by a run that was killed is stale when it names this host and a process that no longer
exists: it is taken over. A lock from another host cannot be checked; the message says which file
to delete once no run is going on there.

:func:`remove_temporaries` then deletes the temporary siblings that a killed stage left behind
(``.<name>.tmp-<8 hex>[.suffix]``, see :mod:`brainalign.store`); ``<name>.partial`` stores are
kept: feature extraction resumes them.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import socket
import time
from pathlib import Path

LOCK_NAME = ".brainalign.lock"
# the temporary siblings of brainalign.store: _tmp_sibling (stores) and atomic_file (plain files)
TEMPORARY = re.compile(r"^\..+\.tmp-[0-9a-f]{8}(\.[A-Za-z0-9]+)?$")


class ResultsLocked(RuntimeError):
    """Another run holds the results folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


class ResultsLock:
    """An exclusive lock file in ``results_dir``, held by this process (see the module docstring)."""

    def __init__(self, results_dir):
        self.path = Path(results_dir) / LOCK_NAME
        self.token = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        self.held = False

    def _holder(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # being written, or damaged: not ours, and not known to be stale

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            json.dump(self.token, f)
        return True

    def acquire(self) -> None:
        """Take the lock, taking over a stale one; :class:`ResultsLocked` if a live run holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._create():
            holder = self._holder()
            stale = (holder and holder.get("host") == self.token["host"]
                     and isinstance(holder.get("pid"), int) and not _alive(holder["pid"]))
            if holder is None or stale:
                self.path.unlink(missing_ok=True)
            if not self._create():
                holder = self._holder() or {}
                raise ResultsLocked(
                    f"results folder {self.path.parent} is in use by another run (process {holder.get('pid', '?')} "
                    f"on host {holder.get('host', '?')}, started {holder.get('started', '?')}): wait for it to "
                    f"end, or, if no run is going on there, delete {self.path}")
        self.held = True
        atexit.register(self.release)

    def release(self) -> None:
        """Remove the lock file if this process holds it."""
        if self.held and (self._holder() or {}).get("pid") == self.token["pid"]:
            self.path.unlink(missing_ok=True)
        self.held = False


def remove_temporaries(results_dir) -> list[Path]:
    """Delete the temporary stores and files that killed stages left in ``results_dir`` (not
    looking inside stores); returns what was deleted. Call it only while holding the lock."""
    removed = []
    for folder, dirs, files in os.walk(results_dir):
        for name in [*dirs, *files]:
            if TEMPORARY.match(name):
                path = Path(folder, name)
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
                removed.append(path)
        dirs[:] = [d for d in dirs if not TEMPORARY.match(d) and not d.endswith((".zarr", ".partial"))]
    return removed
