"""Precomputed betas (``layout: betas``) through the fMRI stage, as the rule calls it, on small
synthetic copies of NSD, THINGS-fMRI and BOLD5000 (tests/betas_synthetic.py).

References: the betas files read directly with h5py / nibabel / numpy (values after the stated
scale within float32 rounding, rtol 1e-6; trial order; voxel coordinates), NSD's design read
with scipy, and the ncsnr formula written out with numpy (Allen et al. 2022).
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.io import loadmat

from betas_synthetic import write_bold5000, write_nsd, write_things
from brainalign import store
from brainalign.brain.betas_trials import nsd_trials
from brainalign.cli import main
from brainalign.config import ConfigError, validate_config
from brainalign.stages import fmri, stimuli

PROJECT = Path(__file__).resolve().parents[1]
SCHEMA = PROJECT / "config" / "schema.yaml"
RTOL = 1e-6  # float32 rounding of raw * scale


def recipe(name: str, shared: Path, **betas) -> dict:
    """A recipe of config/examples with ``shared`` as its shared data folder (written into its
    paths, so BRAINALIGN_SHARED_DATA does not apply), its ``betas`` keys replaced by ``betas``
    (fewer sessions)."""
    text = (PROJECT / "config" / "examples" / f"{name}.yaml").read_text()
    cfg = yaml.safe_load(text.replace("{shared_data}", str(shared)))
    next(iter(cfg["datasets"].values()))["betas"].update(betas)
    return cfg


def run_stage(cfg: dict, tmp: Path, out: Path | None = None, **changes) -> Path:
    """Validate ``cfg`` (with ``changes`` to its dataset), render its stimuli, run the stage."""
    cfg = copy.deepcopy(cfg)
    name, dataset = next(iter(cfg["datasets"].items()))
    dataset.update(changes)
    cfg = validate_config(cfg, SCHEMA)
    spec = json.loads(json.dumps(cfg["datasets"][name]))
    stim = tmp / "stimuli.zarr"
    if not stim.exists():
        stimuli.run(cfg["stimuli"][spec["stimuli"]], out=stim, seed=0)
    out = out or tmp / "brain.zarr"
    fmri.run(spec, bids=spec["path"], subject=spec["subjects"][0], stimuli=stim, out=out, seed=cfg["seed"])
    return out


@pytest.fixture(scope="module")
def nsd(tmp_path_factory):
    shared = tmp_path_factory.mktemp("shared")
    info = write_nsd(shared / "nsd")
    table = shared / "nsd/brainalign/nsd_trials_subj01.tsv"
    assert main(["nsd-trials", "--expdesign", str(info["design"]), "--subject", "1", "--out", str(table)]) == 0
    return shared, info


@pytest.fixture(scope="module")
def nsd_store(nsd, tmp_path_factory):
    shared, _ = nsd
    tmp = tmp_path_factory.mktemp("nsd_store")
    return run_stage(recipe("nsd", shared, sessions=2), tmp), tmp


def test_nsd_trials_follows_the_design(nsd):
    shared, info = nsd
    table = pd.read_csv(shared / "nsd/brainalign/nsd_trials_subj01.tsv", sep="\t")
    mat = loadmat(info["design"])
    order = mat["masterordering"].ravel().astype(int)
    ids = mat["subjectim"][0, order - 1].astype(int)
    assert len(table) == len(order) == 4 * 72
    assert table.stimulus_id.tolist() == [f"nsd{i:05d}" for i in ids]
    assert (table.session.to_numpy() == np.arange(4 * 72) // 72 + 1).all()
    assert (table.shared.to_numpy() == np.isin(ids, mat["sharedix"].ravel())).all()
    runs = np.concatenate([np.repeat(np.arange(1, 13), mat["stimpattern"][s].sum(1).astype(int)) for s in range(4)])
    assert (table.run.to_numpy() == runs).all() and table.groupby("session").run.nunique().tolist() == [12] * 4
    assert (table.trial_in_session.to_numpy() == np.tile(np.arange(1, 73), 4)).all()


def test_nsd_betas_reach_the_store_unchanged(nsd, nsd_store):
    shared, info = nsd
    path, _ = nsd_store
    labels = info["labels"]
    assert store.group_names(path) == sorted(["V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4"])
    root = store.read_provenance(path)
    inputs = set(root["inputs"])
    assert set(map(str, info["files"][:2])) <= inputs and not set(map(str, info["files"][2:])) & inputs
    tree = store.open_tree(path)
    affine = np.asarray(tree.attrs["affine"])
    table = pd.read_csv(shared / "nsd/brainalign/nsd_trials_subj01.tsv", sep="\t")
    table = table[table.session <= 2]  # the sessions the config names
    for value, name in enumerate(["V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4"], 1):
        ds = store.open_dataset(path, group=name)
        ijk = np.c_[ds.i.values, ds.j.values, ds.k.values]
        expected_voxels = np.argwhere((labels == value) & info["brain"])  # outside the brain: constant 0
        np.testing.assert_array_equal(ijk, expected_voxels)
        np.testing.assert_allclose(np.c_[ds.x.values, ds.y.values, ds.z.values],
                                   nib.affines.apply_affine(affine, ijk), atol=1e-9)
        direct = []
        for f in info["files"][:2]:
            with h5py.File(f, "r") as h5:  # h5py's axes: (trial, k, j, i)
                direct.append(np.stack([h5["betas"][:, k, j, i] for i, j, k in ijk], 1))
        expected = np.concatenate(direct).astype(np.float64) / 300
        np.testing.assert_allclose(ds.betas.values, expected, rtol=RTOL, atol=0)
        assert ds.betas.dtype == np.float32
        assert ds.stimulus_id.values.tolist() == table.stimulus_id.tolist()
        assert ds.run.values.tolist() == [f"ses-{s:02d}" for s in table.session]
        assert (ds.shared.values == table.shared.to_numpy()).all()
        snr = np.asanyarray(nib.load(info["ncsnr"]).dataobj)[tuple(ijk.T)]
        np.testing.assert_allclose(ds.ncsnr.values, snr, rtol=RTOL)
        np.testing.assert_allclose(ds.noise_ceiling.values, 100 * snr**2 / (snr**2 + 1), rtol=1e-5)
        assert ds.attrs["n_dropped_constant_voxels"] == (1 if name == "V1v" else 0)


def ncsnr_reference(betas: np.ndarray, ids: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Allen et al. (2022): betas z-scored per group; noise variance = mean over stimuli shown twice or
    more of their trials' variance (ddof 1); ncsnr = sqrt(max(0, 1 - noise)) / sqrt(noise)."""
    z = betas.astype(np.float64).copy()
    for g in np.unique(groups):
        z[groups == g] = (z[groups == g] - z[groups == g].mean(0)) / z[groups == g].std(0)
    noise = np.mean([z[ids == s].var(0, ddof=1) for s in np.unique(ids) if (ids == s).sum() >= 2], axis=0)
    return np.sqrt(np.maximum(0, 1 - noise)) / np.sqrt(noise)


def test_ncsnr_from_repeats_without_a_map(nsd, tmp_path):
    shared, _ = nsd
    cfg = recipe("nsd", shared, sessions=2)
    del cfg["datasets"]["nsd"]["betas"]["ncsnr"]
    path = run_stage(cfg, tmp_path)
    ds = store.open_dataset(path, group="V2v")
    expected = ncsnr_reference(ds.betas.values, ds.stimulus_id.values, ds.run.values)
    np.testing.assert_allclose(ds.ncsnr.values, expected, rtol=1e-5)
    assert "repeats" in ds.attrs["noise_ceiling_source"]


def test_things_runs_catch_trials_and_nan_voxels(tmp_path):
    shared = tmp_path / "shared"
    info = write_things(shared / "things_fmri")
    path = run_stage(recipe("things_fmri", shared, sessions=2, runs=2), tmp_path)
    ds = store.open_dataset(path, group="LOC")
    rows = info["rows"]
    kept = rows[rows.trial_type != "catch"]
    assert ds.attrs["n_dropped_unknown_trials"] == 4 and ds.attrs["dropped_unknown_stimuli"] == ["catch_image_01"]
    assert ds.stimulus_id.values.tolist() == [s[:-4] for s in kept.stimulus]
    assert ds.trial_type.values.tolist() == kept.trial_type.tolist() and set(ds.concept.values) <= set(rows.concept)
    ijk = np.c_[ds.i.values, ds.j.values, ds.k.values]
    assert ds.attrs["n_dropped_nan_voxels"] == 1 and [0, 0, 0] not in ijk.tolist()
    np.testing.assert_array_equal(ijk, np.argwhere(info["mask"].astype(bool))[1:])
    volumes = np.concatenate([np.moveaxis(v, -1, 0) for v in info["volumes"].values()])[
        (rows.trial_type != "catch").to_numpy()]
    np.testing.assert_array_equal(ds.betas.values, volumes[:, ijk[:, 0], ijk[:, 1], ijk[:, 2]])
    assert ds.run.values.tolist() == [f"ses-{s:02d}" for s in kept.session]
    assert ds.session_run.values.tolist() == [f"{r:02d}" for r in kept.run]


def test_bold5000_image_list_and_masks(tmp_path):
    shared = tmp_path / "shared"
    info = write_bold5000(shared / "bold5000")
    path = run_stage(recipe("bold5000", shared, sessions=2), tmp_path)
    names = [n.rsplit(".", 1)[0] for n in info["names"]]
    data = np.concatenate([np.moveaxis(np.asanyarray(nib.load(f).dataobj), -1, 0) for f in info["files"]])
    for roi in ("LHEarlyVis", "RHEarlyVis"):
        ds = store.open_dataset(path, group=roi)
        assert ds.stimulus_id.values.tolist() == names
        assert ds.run.values.tolist() == ["ses-01"] * 20 + ["ses-02"] * 17
        ijk = np.c_[ds.i.values, ds.j.values, ds.k.values]
        np.testing.assert_array_equal(ds.betas.values, data[:, ijk[:, 0], ijk[:, 1], ijk[:, 2]])


def test_unreadable_nifti_names_the_file(tmp_path):
    shared = tmp_path / "shared"
    write_bold5000(shared / "bold5000")
    (shared / "bold5000/CSI1_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_ses-02.nii.gz").write_bytes(b"\x1f\x8b broken")
    with pytest.raises(ValueError, match=r"betas file .*GLMDENOISE-RR_ses-02.nii.gz cannot be read"):
        run_stage(recipe("bold5000", shared, sessions=2), tmp_path)
    assert not (tmp_path / "brain.zarr").exists()


def test_masked_array_formats(nsd, tmp_path):
    """npy and Zarr (trial, voxel) arrays with a voxel table give the values of the NIfTI path."""
    shared, info = nsd
    root = tmp_path / "arrays"
    root.mkdir()
    voxels = np.argwhere(info["brain"])[::2]
    pd.DataFrame(voxels, columns=list("ijk")).to_csv(root / "voxels.tsv", sep="\t", index=False)
    zarr_path = root / "session02.zarr"
    for s in range(2):
        block = info["raw"][72 * s:72 * (s + 1)][:, voxels[:, 0], voxels[:, 1], voxels[:, 2]]
        np.save(root / f"session{s + 1:02d}.npy", block)
    import zarr

    zarr.create_array(str(zarr_path), data=np.load(root / "session02.npy"))
    shutil.copy(shared / "nsd/brainalign/nsd_trials_subj01.tsv", root / "trials.tsv")
    cfg = recipe("nsd", shared, sessions=2)
    dataset = cfg["datasets"]["nsd"]
    grid = str(shared / "nsd/nsddata/ppdata/subj01/func1pt8mm/brainmask.nii.gz")
    dataset["betas"] = {"format": "npy", "files": str(root / "session{session}.npy"), "sessions": 2, "grid": grid,
                        "voxels": str(root / "voxels.tsv"), "scale": 1 / 300}
    dataset["trials"] = {"table": str(root / "trials.tsv")}
    path = run_stage(cfg, tmp_path)
    ds = store.open_dataset(path, group="V3v")
    ijk = np.c_[ds.i.values, ds.j.values, ds.k.values]
    inside = (info["labels"][tuple(voxels.T)] == 5)
    np.testing.assert_array_equal(ijk, voxels[inside])
    np.testing.assert_allclose(ds.betas.values, info["raw"][:144, ijk[:, 0], ijk[:, 1], ijk[:, 2]] / 300, rtol=RTOL)
    dataset["betas"].update(format="zarr", files=str(root / "session02.zarr"), sessions=["02"])
    dataset["trials"]["table"] = str(root / "trials.tsv")
    path = run_stage(cfg, tmp_path, out=tmp_path / "zarr.zarr")
    ds2 = store.open_dataset(path, group="V3v")
    np.testing.assert_array_equal(ds2.betas.values, ds.betas.values[72:])


# ------------------------------------------------------------------------------ bad input
def bad_copy(nsd, tmp_path) -> tuple[dict, Path]:
    """The NSD recipe on a private copy of the synthetic files (one can be broken per test)."""
    shared, _ = nsd
    copy_root = tmp_path / "shared"
    shutil.copytree(shared, copy_root)
    return recipe("nsd", copy_root, sessions=2), copy_root / "nsd"


def test_unknown_stimuli_are_an_error_listing_them_or_dropped(nsd, tmp_path):
    cfg, root = bad_copy(nsd, tmp_path)
    table_path = root / "brainalign/nsd_trials_subj01.tsv"
    table = pd.read_csv(table_path, sep="\t")
    table.loc[[3, 100], "stimulus_id"] = ["nsd99999", "nsd88888"]
    table.to_csv(table_path, sep="\t", index=False)
    with pytest.raises(ValueError, match=r"nsd_trials_subj01.tsv: 2 trials name 2 stimuli missing .*"
                                         r"\['nsd88888', 'nsd99999'\].*drop_unknown"):
        run_stage(cfg, tmp_path)
    assert not list(tmp_path.glob("*brain.zarr*"))
    cfg["datasets"]["nsd"]["trials"]["drop_unknown"] = True
    ds = store.open_dataset(run_stage(cfg, tmp_path), group="hV4")
    assert ds.sizes["trial"] == 142 and ds.attrs["n_dropped_unknown_trials"] == 2
    assert ds.attrs["dropped_unknown_stimuli"] == ["nsd88888", "nsd99999"]


def test_rows_not_matching_volumes(nsd, tmp_path):
    cfg, root = bad_copy(nsd, tmp_path)
    table_path = root / "brainalign/nsd_trials_subj01.tsv"
    pd.read_csv(table_path, sep="\t").drop(index=[10]).to_csv(table_path, sep="\t", index=False)
    with pytest.raises(ValueError, match=r"nsd_trials_subj01.tsv has 71 rows for session 01, but its betas "
                                         r"file\(s\) .*betas_session01.hdf5 hold 72 volumes"):
        run_stage(cfg, tmp_path)


def test_missing_session_file_names_key_and_file(nsd, tmp_path):
    cfg, root = bad_copy(nsd, tmp_path)
    (root / "nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR/betas_session02.hdf5").unlink()
    with pytest.raises(ConfigError, match=r"datasets.nsd.betas.files \(subject 01\)': file .*betas_session02.hdf5 "
                                          "does not exist"):
        validate_config(cfg, SCHEMA)


def test_wrong_hdf5_dataset_name_and_unreadable_file(nsd, tmp_path):
    cfg, root = bad_copy(nsd, tmp_path)
    with pytest.raises(ValueError, match=r"betas_session01.hdf5 has no HDF5 dataset 'beta' \(it has \['betas'\]\)"):
        run_stage(cfg, tmp_path, betas={**cfg["datasets"]["nsd"]["betas"], "dataset": "beta"})
    (root / "nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR/betas_session02.hdf5").write_bytes(
        b"not an hdf5 file")
    with pytest.raises(ValueError, match=r"betas file .*betas_session02.hdf5 cannot be read"):
        run_stage(cfg, tmp_path)


def test_a_failed_run_keeps_the_finished_store(nsd, nsd_store, tmp_path):
    """A rerun that fails (a betas file truncated) leaves the previous complete store as it was,
    and no scratch or partial store behind."""
    cfg, root = bad_copy(nsd, tmp_path)
    done, _ = nsd_store
    out = tmp_path / "brain.zarr"
    shutil.copytree(done, out)
    before = store.content_hash(out)
    session = root / "nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR/betas_session02.hdf5"
    with h5py.File(session, "r+") as f:
        data = f["betas"][:70]
        del f["betas"]
        f.create_dataset("betas", data=data)
    with pytest.raises(ValueError, match="betas_session02.hdf5 hold 70 volumes"):
        run_stage(cfg, tmp_path, out=out)
    assert store.content_hash(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["brain.zarr", "shared", "stimuli.zarr"]


def test_config_errors_name_the_key(nsd, tmp_path):
    shared, _ = nsd
    cfg = recipe("nsd", shared, sessions=2)
    cfg["datasets"]["nsd"]["glm"] = {"method": "lsa"}
    with pytest.raises(ConfigError, match=r"'datasets.nsd.glm' does not apply to 'layout: betas'"):
        validate_config(copy.deepcopy(cfg), SCHEMA)
    del cfg["datasets"]["nsd"]["glm"]
    del cfg["datasets"]["nsd"]["betas"]["grid"]
    with pytest.raises(ConfigError, match=r"missing required key 'datasets.nsd.betas.grid'"):
        validate_config(copy.deepcopy(cfg), SCHEMA)
    cfg["datasets"]["nsd"]["betas"].update(grid="x.nii.gz", preset="nope")
    with pytest.raises(ConfigError, match=r"datasets.nsd.betas.preset"):
        validate_config(copy.deepcopy(cfg), SCHEMA)


def test_nsd_trials_bad_design(tmp_path):
    from scipy.io import savemat

    savemat(tmp_path / "d.mat", {"subjectim": np.ones((8, 4))})
    with pytest.raises(ValueError, match=r"d.mat has no variable 'masterordering'"):
        nsd_trials(tmp_path / "d.mat", 1)
