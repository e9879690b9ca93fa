"""Stage ``rdms``: one subject's precomputed brain RDMs (a ``modality: rdm`` dataset) as a brain store.

Each ROI of the dataset's ``rdms`` names a file (``.npy``, ``.npz``, ``.mat``; square or
condensed; read and checked by :mod:`brainalign.brain.rdm_io`). Its stimulus ids come from the
ROI's ``stimulus_ids`` text file, else the dataset's, else the ``stimulus_ids`` array in the file. The store has one group per ROI
with ``rdm`` (pair): the condensed RDM, float64, in scipy's pair order over the conditions
``stimulus_id`` (stimulus), put in the stimulus set's order (every ROI of a subject must hold the
same stimuli), with ``pair_i``, ``pair_j`` (pair) naming the
conditions of each entry. The RSA stage uses it in place of an RDM computed from betas.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import xarray as xr
from scipy.spatial.distance import squareform

from .. import store
from ..brain.rdm_io import check_ids, read_ids_file, read_rdm_file
from ..metrics.rdm import pair_indices
from ..plan import rdm_files, subject_file

log = logging.getLogger(__name__)


def in_set_order(ids: np.ndarray, rdm: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ids and the condensed RDM reordered to the stimulus set's order (``known``)."""
    rank = {s: k for k, s in enumerate(known.tolist())}
    order = np.argsort([rank[s] for s in ids.tolist()], kind="stable")
    square = squareform(rdm, checks=False)
    return ids[order], squareform(square[np.ix_(order, order)], checks=False)


def run(spec: dict, *, subject: str, stimuli, out, seed: int) -> None:
    """The RDMs of ``subject`` in the dataset ``spec`` (a resolved ``datasets.<name>`` entry)."""
    known = store.open_dataset(stimuli).stimulus_id.values.astype(str)
    groups = {}
    for roi, entry in spec["rdms"].items():
        path = Path(subject_file(entry["file"], subject))
        per_subject = "{subject}" in entry["file"]
        rdms, stored_ids = read_rdm_file(path, key=entry.get("key"),
                                         n_subjects=None if per_subject else len(spec["subjects"]))
        rdm = rdms[0 if per_subject else spec["subjects"].index(subject)]
        ids_file = entry.get("stimulus_ids", spec.get("stimulus_ids"))
        ids = check_ids(read_ids_file(ids_file) if ids_file else stored_ids, rdm.size, known, path, ids_file)
        ids, rdm = in_set_order(ids, rdm, known)
        first = next(iter(groups.values()), None)
        if first is not None and not np.array_equal(first.stimulus_id.values, ids):
            raise ValueError(f"{path}: ROI {roi!r} holds other stimuli than ROI {next(iter(groups))!r} "
                             f"({first.attrs['file']}); every ROI of a subject needs the same stimuli")
        i, j = pair_indices(ids.size)
        groups[roi] = xr.Dataset({"rdm": ("pair", rdm)},
                                 coords={"stimulus_id": ("stimulus", ids), "pair_i": ("pair", i),
                                         "pair_j": ("pair", j)},
                                 attrs={"file": str(path), "key": entry.get("key") or ""})
        groups[roi]["rdm"].attrs["description"] = "precomputed brain RDM (condensed, scipy's pair order)"
        log.info("sub-%s ROI %s: RDM over %d stimuli from %s", subject, roi, ids.size, path)
    store.write_tree(out, groups, stage="rdms", params=spec, inputs=[*rdm_files(spec, subject), stimuli],
                     seed=seed, root=xr.Dataset(attrs={"subject": subject, "modality": "rdm"}))
