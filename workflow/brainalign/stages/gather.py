"""Stage ``gather``: join the unit parts of a scattered encoding into one encoding store.

Part ``k`` of ``n`` (``brainalign encoding --part k/n``) holds the voxel chunks
``[k * c // n, (k + 1) * c // n)`` of the ``c`` chunks of every ROI
(:func:`.encoding.unit_range`); concatenating the parts' groups along ``unit`` in
part order gives every ROI whole. The store is written with the provenance the unscattered stage
writes (stage ``encoding``, ``params`` = ``spec``, the parts' common ``inputs`` and their hashes),
so it is identical to the store of one ``brainalign encoding`` job, ``created`` aside.
"""

from __future__ import annotations

import xarray as xr

from .. import store


def run(spec: dict, *, parts, out, seed: int) -> None:
    """Concatenate the ROI groups of the ``parts`` stores (in order) along ``unit``; write ``out``."""
    provs = [store.read_provenance(p) for p in parts]
    for path, prov in zip(parts, provs):
        if prov["stage"] != "encoding" or "part" not in prov["params"]:
            raise ValueError(f"{path} is not a part of a scattered encoding (params have no 'part')")
        if prov["inputs"] != provs[0]["inputs"]:
            raise ValueError(f"{path} was computed from other inputs than {parts[0]}: "
                             f"{prov['inputs']} != {provs[0]['inputs']}")
        if {k: v for k, v in prov["params"].items() if k != "part"} != spec:
            raise ValueError(f"{path} was computed with other parameters than {spec}")
    rois: dict[str, list[xr.Dataset]] = {}
    for path in parts:
        for roi in store.group_names(path):
            rois.setdefault(roi, []).append(store.open_dataset(path, group=roi))
    groups = {roi: xr.concat(pieces, dim="unit", data_vars="minimal", coords="minimal",
                             compat="equals").load().drop_encoding()
              for roi, pieces in sorted(rois.items())}
    root = store.open_dataset(parts[0])
    store.write_tree(out, groups, stage="encoding", params=spec, inputs=provs[0]["inputs"], seed=seed,
                     root=xr.Dataset(attrs={k: v for k, v in root.attrs.items()
                                            if k not in store.PROVENANCE_KEYS}))
