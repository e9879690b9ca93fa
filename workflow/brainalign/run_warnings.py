"""Warnings that stages logged during one run, repeated at its end (the Snakefile's onsuccess and
onerror handlers): a warning such as an ROI left out of RSA is otherwise seen only in its log file.

A stage logs ``<time> <logger> WARNING: <message>`` (``brainalign.cli``); the logs of this run are
those under ``<results_dir>/logs`` written since it started.
"""

from __future__ import annotations

from pathlib import Path

MARK = " WARNING: "


def run_warnings(log_dir, since: float) -> list[str]:
    """``<log file>: <message>`` for every WARNING line of the ``*.log`` files under ``log_dir``
    modified at or after ``since`` (seconds since the epoch), in file and line order."""
    log_dir, found = Path(log_dir), []
    for path in sorted(log_dir.rglob("*.log")) if log_dir.is_dir() else []:
        if path.stat().st_mtime < since:
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if MARK in line:
                found.append(f"{path}: {line.split(MARK, 1)[1]}")
    return found


def print_run_warnings(log_dir, since: float) -> None:
    """Print this run's warnings under one heading (nothing when there are none)."""
    found = run_warnings(log_dir, since)
    if found:
        print(f"brainalign: {len(found)} warning(s) in this run's logs:", *(f"  {w}" for w in found), sep="\n",
              flush=True)
