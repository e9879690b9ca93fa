"""The recipes of config/examples (NSD, THINGS-fMRI, BOLD5000) end to end through Snakemake, on
small synthetic files in each dataset's own layout (tests/betas_synthetic.py); only the number of
sessions (and THINGS' runs) is lowered. The brain store holds the betas as a direct h5py /
nibabel read gives them; every file the betas stage reads is an input of its job: editing one
reruns it, and an untouched study has nothing to do.
"""

from __future__ import annotations

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from betas_synthetic import write_bold5000, write_nsd, write_things
from brainalign import store
from brainalign.cli import main
from study_runner import PROJECT, planned_jobs, snakemake

pytestmark = pytest.mark.slow


def run_recipe(name: str, tmp, monkeypatch, **betas):
    """Snakemake on recipe ``name`` with its ``betas`` keys replaced; returns the results folder."""
    cfg = yaml.safe_load((PROJECT / "config" / "examples" / f"{name}.yaml").read_text())
    next(iter(cfg["datasets"].values()))["betas"].update(betas)
    configfile = tmp / f"{name}.yaml"
    configfile.write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("BRAINALIGN_SHARED_DATA", str(tmp / "shared"))
    results = tmp / "results"
    snakemake(results=results, configfile=configfile)
    summary = pd.read_csv(results / "summary.csv")
    assert set(summary.method) >= {"encoding", "rsa"} and len(summary)
    return results, configfile


def test_nsd_recipe(tmp_path, monkeypatch):
    info = write_nsd(tmp_path / "shared/nsd")
    table = tmp_path / "shared/nsd/brainalign/nsd_trials_subj01.tsv"
    main(["nsd-trials", "--expdesign", str(info["design"]), "--subject", "1", "--out", str(table)])
    results, configfile = run_recipe("nsd", tmp_path, monkeypatch, sessions=4)
    brain = results / "brain/nsd/sub-01.zarr"
    ds = store.open_dataset(brain, group="V2d")
    ijk = np.c_[ds.i.values, ds.j.values, ds.k.values]
    direct = []
    for f in info["files"]:
        with h5py.File(f, "r") as h5:  # (trial, k, j, i)
            direct.append(np.stack([h5["betas"][:, k, j, i] for i, j, k in ijk], 1))
    np.testing.assert_allclose(ds.betas.values, np.concatenate(direct) / 300, rtol=1e-6, atol=0)
    assert ds.stimulus_id.values.tolist() == pd.read_csv(table, sep="\t").stimulus_id.tolist()

    # every file the stage reads is an input: nothing to do, then a changed label table and a
    # replaced betas file rerun it, and Snakemake names both as the reason
    assert "fmri_betas" not in planned_jobs(snakemake("-n", results=results, configfile=configfile).stdout)
    ctab = tmp_path / "shared/nsd/nsddata/freesurfer/subj01/label/prf-visualrois.mgz.ctab"
    ctab.write_text(ctab.read_text().replace("hV4", "hV4v"))
    session = info["files"][1]
    replacement = session.with_name("replacement.hdf5")
    with h5py.File(session, "r") as old, h5py.File(replacement, "w") as new:
        new.create_dataset("betas", data=old["betas"][:] // 2)
    replacement.replace(session)
    dry = snakemake("-n", results=results, configfile=configfile).stdout
    assert planned_jobs(dry).get("fmri_betas") == 1
    reason = next(line for line in dry.splitlines() if "Updated input files" in line)
    assert "prf-visualrois.mgz.ctab" in reason and "betas_session02.hdf5" in reason


def test_things_fmri_recipe(tmp_path, monkeypatch):
    info = write_things(tmp_path / "shared/things_fmri", n_sessions=4)
    results, _ = run_recipe("things_fmri", tmp_path, monkeypatch, sessions=4, runs=2)
    ds = store.open_dataset(results / "brain/things/sub-01.zarr", group="LOC")
    rows = info["rows"]
    kept = (rows.trial_type != "catch").to_numpy()
    ijk = np.c_[ds.i.values, ds.j.values, ds.k.values]
    volumes = np.concatenate([np.moveaxis(v, -1, 0) for v in info["volumes"].values()])[kept]
    np.testing.assert_array_equal(ds.betas.values, volumes[:, ijk[:, 0], ijk[:, 1], ijk[:, 2]])
    assert ds.stimulus_id.values.tolist() == [s[:-4] for s in rows.stimulus[kept]]
    assert ds.attrs["n_dropped_unknown_trials"] == int((~kept).sum()) and ds.attrs["n_dropped_nan_voxels"] == 1


def test_bold5000_recipe(tmp_path, monkeypatch):
    info = write_bold5000(tmp_path / "shared/bold5000", n_sessions=4, n_per_session=(12, 10, 11, 9))
    results, _ = run_recipe("bold5000", tmp_path, monkeypatch, sessions=4)
    data = np.concatenate([np.moveaxis(np.asanyarray(nib.load(f).dataobj), -1, 0) for f in info["files"]])
    for roi in ("LHEarlyVis", "RHEarlyVis"):
        ds = store.open_dataset(results / "brain/bold5000/sub-1.zarr", group=roi)
        ijk = np.c_[ds.i.values, ds.j.values, ds.k.values]
        np.testing.assert_array_equal(ds.betas.values, data[:, ijk[:, 0], ijk[:, 1], ijk[:, 2]])
        assert ds.stimulus_id.values.tolist() == [n.rsplit(".", 1)[0] for n in info["names"]]
