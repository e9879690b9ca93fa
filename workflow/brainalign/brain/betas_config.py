"""A ``layout: betas`` dataset entry: the files it names, and its label volumes.

Shared by the Snakemake rule (every file is an input of the job, so that editing one reruns it)
and by the stage (:func:`brainalign.stages.fmri.run`). Paths are relative to the dataset's
``path`` unless absolute, and ``{subject}`` is replaced by the subject label.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from .betas_trials import run_labels, session_labels

__all__ = ["betas_inputs", "dataset_file", "label_names", "read_label_file"]


def dataset_file(spec: Mapping, value: str, subject: str) -> Path:
    """A file of the dataset: ``value`` with ``{subject}`` replaced, under ``spec["path"]`` if relative."""
    return Path(spec["path"], value.replace("{subject}", subject))


def _betas_paths(spec: Mapping, subject: str) -> list[Path]:
    betas = spec["betas"]
    return [Path(spec["path"], betas["files"].format(subject=subject, session=s, run=r))
            for s in session_labels(betas["sessions"], subject) for r in run_labels(betas.get("runs"))]


def betas_inputs(spec: Mapping, subject: str) -> dict[str, list[str]]:
    """Every external file the stage reads for ``subject``, by kind: ``betas``, ``trials``,
    ``grid``, ``voxels``, ``ncsnr`` and ``rois`` (masks, atlases, label tables)."""
    betas = spec["betas"]
    files = {"betas": _betas_paths(spec, subject),
             "trials": [dataset_file(spec, spec["trials"]["table"], subject)]}
    for key in ("grid", "voxels", "ncsnr"):
        files[key] = [dataset_file(spec, betas[key], subject)] if betas.get(key) else []
    files["rois"] = [dataset_file(spec, roi[key], subject) for roi in spec["rois"].values()
                     for key in ("mask", "atlas", "labels") if isinstance(roi.get(key), str)]
    return {kind: [str(p) for p in paths] for kind, paths in files.items()}


def read_label_file(path) -> dict[int, str]:
    """Label value -> name from a TSV with columns ``index`` and ``name`` (BIDS ``dseg.tsv``), or a
    whitespace-separated text file of ``value name [...]`` lines (FreeSurfer ``.ctab``, NSD's
    ``prf-visualrois.mgz.ctab``; lines starting with ``#`` are comments)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label table {path} does not exist")
    if path.suffix.lower() == ".tsv":
        table = pd.read_csv(path, sep="\t")
        if not {"index", "name"} <= set(table.columns):
            raise ValueError(f"label table {path} needs columns 'index' and 'name', has {list(table.columns)}")
        return {int(i): str(n) for i, n in zip(table["index"], table["name"])}
    names = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        try:
            names[int(parts[0])] = parts[1]
        except (ValueError, IndexError):
            raise ValueError(f"label table {path}, line {number}: expected 'value name', got {line!r}") from None
    return names


def label_names(labels) -> dict[int, str]:
    """The ROIs of a label volume: value -> name for every value > 0 (0 and negative values, such
    as NSD's -1, are outside any ROI). ``labels``: a label file, or a mapping value -> name."""
    names = read_label_file(labels) if isinstance(labels, (str, Path)) else {int(v): str(n) for v, n in labels.items()}
    names = {v: n for v, n in names.items() if v > 0}
    bad = [n for n in names.values() if not n or "/" in n]
    if bad:
        raise ValueError(f"label names {bad} cannot name an ROI (empty, or holding '/')")
    return names
