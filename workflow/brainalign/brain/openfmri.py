"""Runs and masks of a dataset in the OpenFMRI layout (as PyMVPA ships Haxby et al. 2001).

Layout::

    <root>/scan_key.txt                                   "TR 2.5"
    <root>/<subject>/BOLD/<task>_runNNN/<bold>.nii.gz     e.g. bold_25mm or bold_1slice
    <root>/<subject>/BOLD/<task>_runNNN/bold_events.tsv   onset, duration, trial_type
    <root>/<subject>/BOLD/<task>_runNNN/bold_moest.txt    motion estimates, one row per volume
    <root>/<subject>/masks/<resolution>/<name>.nii.gz     binary masks (or a label atlas)

In a block design the stimulus of a block is its ``trial_type`` (the category), so the
fMRI stage is run with ``stimulus_column="trial_type"``.
"""

from __future__ import annotations

import re
from pathlib import Path

from .bids import Run

__all__ = ["find_openfmri_runs", "openfmri_masks", "read_scan_tr"]

_RUN_FOLDER = re.compile(r"^(?P<task>task\d+)_run(?P<run>\d+)$")


def read_scan_tr(root: str | Path) -> tuple[float, Path]:
    """Repetition time (s) from ``<root>/scan_key.txt`` (a line ``TR <seconds>``)."""
    path = Path(root) / "scan_key.txt"
    if not path.is_file():
        raise ValueError(f"no scan_key.txt (with the repetition time) in {root}")
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "TR":
            return float(parts[1]), path
    raise ValueError(f"{path} has no line 'TR <seconds>'")


def find_openfmri_runs(root, subject: str = "sub001", *, task: str = "task001", bold: str = "bold_25mm",
                       runs=None, motion: bool = True) -> list[Run]:
    """Runs of one subject and task, in run order.

    Parameters
    ----------
    root : path
        Dataset folder (holding ``scan_key.txt`` and the subject folders).
    subject, task : str
        ``sub001``, ``task001`` style labels.
    bold : str
        Image name within a run folder without ``.nii.gz`` (``"bold_25mm"``, ``"bold_1slice"``).
    runs : int, list of int, or None
        Run numbers to keep (``None``: all).
    motion : bool
        Attach ``bold_moest.txt`` as the run's motion estimates (required to exist when True).
    """
    root = Path(root)
    tr, tr_source = read_scan_tr(root)
    bold_dir = root / subject / "BOLD"
    if not bold_dir.is_dir():
        raise ValueError(f"no folder {bold_dir} (subject {subject!r})")
    wanted = None if runs is None else {int(r) for r in ([runs] if isinstance(runs, (int, str)) else runs)}
    found = []
    for folder in sorted(bold_dir.iterdir()):
        match = _RUN_FOLDER.match(folder.name)
        if match is None or match["task"] != task or (wanted is not None and int(match["run"]) not in wanted):
            continue
        image = folder / f"{bold}.nii.gz"
        events = folder / "bold_events.tsv"
        moest = folder / "bold_moest.txt"
        for path, what in ((image, "BOLD image"), (events, f"events file for {image}"),
                           (moest if motion else None, f"motion estimates for {image}")):
            if path is not None and not path.is_file():
                raise ValueError(f"missing {what}: {path}")
        found.append((int(match["run"]), Run(bold=image, events=events, tr=tr, tr_source=tr_source,
                                             label=folder.name, subject=subject,
                                             motion=moest if motion else None)))
    if not found:
        raise ValueError(f"no runs of {task} for {subject} in {bold_dir}"
                         + ("" if wanted is None else f" with run numbers {sorted(wanted)}"))
    return [r for _, r in sorted(found, key=lambda f: f[0])]


def openfmri_masks(root, subject: str = "sub001", resolution: str = "25mm") -> dict[str, Path]:
    """Mask name -> path for ``<root>/<subject>/masks/<resolution>/*.nii.gz``."""
    folder = Path(root) / subject / "masks" / resolution
    masks = {p.name.removesuffix(".nii.gz"): p for p in sorted(folder.glob("*.nii.gz"))}
    if not masks:
        raise ValueError(f"no masks (*.nii.gz) in {folder}")
    return masks
