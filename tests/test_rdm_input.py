"""Precomputed RDMs: square input recognised by the metrics API, RDM files (``.npy``, ``.npz``,
``.mat``) read and checked, and a ``modality: rdm`` dataset scored by RSA into summary.csv.

References: scipy's ``squareform`` for the square <-> condensed correspondence; the RSA scores of
a square input equal those of its condensed form exactly (same float64 arithmetic, ``rtol=0``),
and the pipeline's scores equal ``scipy.stats.spearmanr`` of the two RDMs (``1e-12``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.io
import yaml
from scipy.spatial.distance import squareform
from scipy.stats import spearmanr

from brainalign import store
from brainalign.brain.rdm_io import check_ids, read_rdm_file
from brainalign.config import ConfigError, validate_config
from brainalign.metrics.rdm import compute_rdm
from brainalign.metrics.rsa import compare, noise_ceiling, rsa_scores
from brainalign.models.spec import validate_spec
from brainalign.models.table import fixed_features
from brainalign.stages import rdms as rdms_stage
from brainalign.stages import stimuli
from study_runner import PROJECT, snakemake

SCHEMA = PROJECT / "config" / "schema.yaml"


@pytest.fixture
def rng():
    return np.random.default_rng(3)


def _square(rng, n):
    return squareform(rng.random(n * (n - 1) // 2))


# ------------------------------------------------------------------------------ metrics API
def test_square_78_rdm_is_one_rdm_of_78_conditions_not_78_of_13(rng):
    """The issue's case: 78 = 13 x 12 / 2, so a 78 x 78 matrix was read as 78 condensed RDMs."""
    data, model = _square(rng, 78), _square(rng, 78)
    score = compare(model, data, "spearman")
    assert np.shape(score) == ()
    assert score == compare(squareform(model), squareform(data), "spearman")
    np.testing.assert_allclose(score, spearmanr(squareform(model), squareform(data))[0], rtol=1e-12)
    out = rsa_scores(model, data, "pearson", n_bootstrap=3)
    assert "subject_scores" not in out and out["score"].shape == (1,)


def test_stack_of_square_rdms_equals_stack_of_condensed(rng):
    subjects = np.stack([_square(rng, 9) for _ in range(3)])
    models = np.stack([_square(rng, 9) for _ in range(2)])
    condensed = np.stack([squareform(s) for s in subjects])
    a = rsa_scores(models, subjects, "spearman", n_bootstrap=4, seed=1)
    b = rsa_scores(np.stack([squareform(m) for m in models]), condensed, "spearman", n_bootstrap=4, seed=1)
    for key in ("score", "subject_scores", "bootstrap", "noise_ceiling_lower", "noise_ceiling_upper"):
        np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_array_equal(noise_ceiling(subjects).upper, noise_ceiling(condensed).upper)


def test_square_rdm_errors_say_what_is_wrong(rng):
    bad = _square(rng, 10)
    bad[2, 5] += 0.5
    with pytest.raises(ValueError, match=r"data_rdm: square RDM \(10 x 10\) is not symmetric \(entry \((2, 5|5, 2)\)"):
        compare(_square(rng, 10), bad)
    with pytest.raises(ValueError, match=r"model_rdms: length 11 is not n \(n - 1\) / 2 .*squareform\(D, checks=False\)"):
        compare(rng.random((11, 11)), rng.random(55))  # 11 x 11 with a non-zero diagonal: no RDM


# ------------------------------------------------------------------------------ files
IDS = np.array([f"s{i:02d}" for i in range(12)])


def test_files_of_every_format_and_form_give_the_same_condensed_rdm(tmp_path, rng):
    square = _square(rng, 12)
    condensed = squareform(square)
    np.save(tmp_path / "a.npy", square)
    np.savez(tmp_path / "b.npz", rdm=condensed, stimulus_ids=IDS)
    scipy.io.savemat(tmp_path / "c.mat", {"IT_RDMs": np.stack([square, square * 2]),
                                          "stimulus_ids": np.array(IDS, dtype=object)})
    import h5py  # a MATLAB v7.3 file is HDF5, arrays stored transposed

    with h5py.File(tmp_path / "d.mat", "w", userblock_size=512) as f:
        f.create_dataset("rdm", data=square.T)
        ids = f.create_dataset("stimulus_ids", (12, 1), dtype=h5py.ref_dtype)
        for k, s in enumerate(IDS):
            ids[k, 0] = f.create_dataset(f"#refs#/{k}", data=np.array([ord(c) for c in s], np.uint16)[:, None]).ref
    with open(tmp_path / "d.mat", "r+b") as f:  # MATLAB's 128-byte header in the user block
        f.write(b"MATLAB 7.3 MAT-file".ljust(116) + bytes(8) + b"\x00\x02IM")
    got_a, ids_a = read_rdm_file(tmp_path / "a.npy")
    got_b, ids_b = read_rdm_file(tmp_path / "b.npz")
    got_c, ids_c = read_rdm_file(tmp_path / "c.mat", n_subjects=2)
    got_d, ids_d = read_rdm_file(tmp_path / "d.mat")
    for got in (got_a[0], got_b[0], got_c[0], got_c[1] / 2, got_d[0]):
        np.testing.assert_allclose(got, condensed, rtol=0, atol=1e-15)
    assert ids_a is None and list(ids_b) == list(ids_c) == list(ids_d) == list(IDS)


@pytest.mark.parametrize("write, kwargs, message", [
    (lambda p, r: np.save(p, r.random(50)), {}, r"x\.npy: length 50 is not n \(n - 1\) / 2"),
    (lambda p, r: np.save(p, (lambda m: (m.__setitem__((0, 3), 9.0), m)[1])(_square(r, 12))), {},
     r"x\.npy: square RDM \(12 x 12\) is not symmetric"),
    (lambda p, r: np.save(p, _square(r, 12) + np.eye(12)), {}, r"x\.npy: square RDM \(12 x 12\) has a non-zero diagonal"),
    (lambda p, r: np.save(p, np.stack([_square(r, 12)] * 3)), {"n_subjects": 2},
     r"x\.npy: expected one RDM per subject, \(2, n_pairs\) or \(2, n, n\)"),
    (lambda p, r: np.save(p, np.stack([_square(r, 12)] * 2)), {}, r"x\.npy: expected one RDM"),
])
def test_bad_files_name_the_file(tmp_path, rng, write, kwargs, message):
    write(tmp_path / "x.npy", rng)
    with pytest.raises(ValueError, match=message):
        read_rdm_file(tmp_path / "x.npy", **kwargs)


def test_ids_checked_against_size_and_stimulus_set():
    pairs = 66  # 12 conditions
    with pytest.raises(ValueError, match=r"f\.npy: an RDM over 12 conditions, but 11 stimulus ids in ids\.txt"):
        check_ids(IDS[:11], pairs, IDS, "f.npy", "ids.txt")
    with pytest.raises(ValueError, match=r"f\.npy: stimulus ids \['zebra'\] \(1 in all, from f\.npy\) are not in"):
        check_ids(np.append(IDS[:11], "zebra"), pairs, IDS, "f.npy")
    with pytest.raises(ValueError, match=r"f\.npy: no stimulus ids: store an array 'stimulus_ids'"):
        check_ids(None, pairs, IDS, "f.npy")
    np.testing.assert_array_equal(check_ids(IDS[::-1], pairs, IDS, "f.npy"), IDS[::-1])


# ------------------------------------------------------------------------------ config and study
RANDOM = {"source": "random", "input": "text", "layers": ["embedding"], "n_units": 20, "seed": 5}


def _study(tmp_path, rng, subjects=("01", "02")) -> dict:
    """A study of 12 words, one random model, and an rdm dataset: ROI ``A`` one .npz per subject
    (condensed, ids inside), ROI ``B`` one .mat for both subjects (square, ids from a text file
    in another order than the stimulus set's)."""
    order = IDS[rng.permutation(12)]
    for s in subjects:
        np.savez(tmp_path / f"sub-{s}_A.npz", rdm=rng.random(66), stimulus_ids=IDS)
    scipy.io.savemat(tmp_path / "B.mat", {"B": np.stack([_square(rng, 12) for _ in subjects])})
    (tmp_path / "ids.txt").write_text("\n".join(order) + "\n")
    return {"seed": 7, "results_dir": str(tmp_path / "results"), "allow_results_outside": True,
            "stimuli": {"words": {"kind": "words", "items": IDS.tolist()}},
            "models": {"rand": RANDOM},
            "datasets": {"pre": {"modality": "rdm", "stimuli": "words", "subjects": list(subjects), "task": "view",
                                 "rdms": {"A": {"file": str(tmp_path / "sub-{subject}_A.npz"), "key": "rdm"},
                                          "B": {"file": str(tmp_path / "B.mat"),
                                                "stimulus_ids": str(tmp_path / "ids.txt")}}}},
            "rsa": {"n_bootstrap": 5}}


def test_rdm_dataset_config_is_checked(tmp_path, rng):
    cfg = _study(tmp_path, rng)
    resolved = validate_config(cfg, SCHEMA)
    assert resolved["datasets"]["pre"]["rdms"]["A"] == {"file": str(tmp_path / "sub-{subject}_A.npz"), "key": "rdm"}
    missing = {**cfg, "datasets": {"pre": {**cfg["datasets"]["pre"], "subjects": ["01", "03"]}}}
    with pytest.raises(ConfigError, match=r"key 'datasets\.pre\.rdms\.A': file .*sub-03_A\.npz does not exist"):
        validate_config(missing, SCHEMA)
    foreign = {**cfg, "datasets": {"pre": {**cfg["datasets"]["pre"], "glm": {}}}}
    with pytest.raises(ConfigError, match=r"'datasets\.pre\.glm' does not apply to a rdm dataset .*to fmri\?"):
        validate_config(foreign, SCHEMA)


def test_rdms_stage_errors_name_the_file(tmp_path, rng):
    cfg = validate_config(_study(tmp_path, rng), SCHEMA)
    stimuli.run({"kind": "words", "items": list(IDS[:10])}, out=tmp_path / "s.zarr", seed=0)
    spec = cfg["datasets"]["pre"]
    with pytest.raises(ValueError, match=r"sub-01_A\.npz: stimulus ids \['s10', 's11'\] \(2 in all"):
        rdms_stage.run(spec, subject="01", stimuli=tmp_path / "s.zarr", out=tmp_path / "b.zarr", seed=0)
    assert not (tmp_path / "b.zarr").exists()


def test_rdm_dataset_scores_reach_the_summary(tmp_path, rng):
    """Snakemake: stimuli, features, rdms, rsa, summarize; every RSA score equals Spearman's rho of
    the file's RDM (in the ids file's order for ROI B) and the layer's correlation RDM (summary.csv keeps 6 significant digits: atol 1e-6)."""
    cfg = _study(tmp_path, rng)
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(cfg))
    results = tmp_path / "results"
    snakemake(str(results / "summary.csv"), results=results, configfile=tmp_path / "study.yaml")
    summary = pd.read_csv(results / "summary.csv", dtype={"subject": str})
    rsa = summary[summary.method == "rsa"]
    assert len(rsa) == 4 and set(rsa.roi) == {"A", "B"} and rsa.ceiling.notna().all()
    features = fixed_features(validate_spec(RANDOM), list(IDS))[0]["embedding"].features.values
    order = (tmp_path / "ids.txt").read_text().split()
    position = [list(IDS).index(s) for s in order]
    mat = scipy.io.loadmat(tmp_path / "B.mat")["B"]
    for row in rsa.itertuples():
        s = ["01", "02"].index(row.subject)
        if row.roi == "A":
            brain, feats = np.load(tmp_path / f"sub-{row.subject}_A.npz")["rdm"], features
        else:
            brain, feats = squareform(mat[s]), features[position]
        expected = spearmanr(compute_rdm(feats.astype(np.float64), "correlation"), brain)[0]
        np.testing.assert_allclose(row.score, expected, rtol=0, atol=1e-6)  # csv: 6 significant digits
    # group tests over the 2 subjects (4 sign flips: p >= 0.5) and the paired table of the one layer
    assert rsa.group_t.notna().all() and (rsa.group_p_sign_flip >= 0.5).all()
    assert len(pd.read_csv(results / "paired.csv")) == 0  # one model, one layer: no pair
    brain_store = store.open_dataset(results / "brain" / "pre" / "sub-01.zarr", group="B")
    assert list(brain_store.stimulus_id.values) == list(IDS)  # the stimulus set's order
    back = np.argsort(position)  # file row of each stimulus of the set
    np.testing.assert_array_equal(squareform(brain_store.rdm.values), mat[0][np.ix_(back, back)])
