"""The behaviour stage end to end on tiny stores: simulated triplets written and read back, the
store's contents, summary and recovery rows, 2AFC and similarity matrices, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from brainalign import store
from brainalign.config import DEFAULTS
from brainalign.errors import InputError
from brainalign.metrics.behaviour import odd_one_out_choices
from brainalign.stages import behaviour, figure, simulate_behaviour, summarize
from brainalign.stages.behaviour_summary import behaviour_recovery, behaviour_rows

N = 40
OPTS = {**DEFAULTS["behaviour"], "n_bootstrap": 50,
        "glocal": {**DEFAULTS["behaviour"]["glocal"], "lambdas": [0.0, 0.1], "n_components": 4, "folds": 2,
                   "max_iter": 50}}


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("behaviour")
    rng = np.random.default_rng(0)
    ids = np.array([f"s{i:02d}" for i in range(N)])
    stimuli = store.write_dataset(root / "stimuli.zarr", xr.Dataset(coords={
        "stimulus_id": ("stimulus", ids), "concept": ("stimulus", np.arange(N)[::-1] + 100)}), stage="stimuli",
        params={})
    layers = {"early": rng.standard_normal((N, 5)), "late": rng.standard_normal((N, 5))}
    feats = store.write_tree(root / "net.zarr", {name: xr.Dataset({"features": (("stimulus", "unit"), x)},
                                                                  coords={"stimulus_id": ("stimulus", ids)})
                                                 for name, x in layers.items()},
                             stage="features", params={}, root=xr.Dataset(attrs={"layers": list(layers)}))
    return root, stimuli, feats, layers


def _spec(**extra):
    return {"dataset": "judged", "model": "net", "stimuli": "set", "modality": "behaviour", "behaviour": OPTS,
            "rsa": {"rdm": "correlation"}, **extra}


def test_simulated_triplets_stage_and_summary(stores):
    root, stimuli, feats, layers = stores
    spec = _spec(kind="triplets", simulate_behaviour={"model": "net", "layer": "late", "n_triplets": 600,
                                                      "repeats": 3, "temperature": 0.2, "dims": 256, "seed": 0})
    simulate_behaviour.run(spec, stimuli=stimuli, features=feats, out=root / "triplets.tsv", seed=1)
    table = pd.read_csv(root / "triplets.tsv", sep="\t")
    assert list(table.columns) == ["item1", "item2", "item3", "choice", "subject"] and len(table) == 1800
    behaviour.run(spec, features=feats, stimuli=stimuli, judgements=root / "triplets.tsv", out=root / "b.zarr", seed=1)
    agreement = store.open_dataset(root / "b.zarr", group="agreement")
    assert agreement.metric.values.tolist() == ["odd_one_out_cosine", "odd_one_out_dot", "glocal_odd_one_out"]
    # the stored accuracy is the direct one on the file's judgements (items 1-based, choice a position)
    items = table[["item1", "item2", "item3"]].to_numpy() - 1
    odd = items[np.arange(len(items)), table.choice.to_numpy() - 1]
    direct = np.mean(odd_one_out_choices(layers["late"], items, similarity="cosine") == odd)
    assert agreement.score.sel(layer="late", metric="odd_one_out_cosine").item() == direct
    assert agreement.score.sel(layer="late", metric="odd_one_out_cosine") > agreement.score.sel(
        layer="early", metric="odd_one_out_cosine") + 0.2
    late = agreement.sel(layer="late", metric="odd_one_out_cosine")
    assert late.ci_low < late.score < late.ci_high and late.item_ci_low < late.score < late.item_ci_high
    assert 0.5 < agreement.attrs["ceiling"] <= 1 and agreement.attrs["ceiling_n"] == 1800
    probe = store.open_dataset(root / "b.zarr", group="late")
    assert probe.weight.shape == (4, 4) and probe.attrs["lam"] in (0.0, 0.1)
    rows = pd.DataFrame(behaviour_rows([root / "b.zarr"]))
    assert set(rows.method) == {"behaviour"} and set(rows.subject) == {"group"}
    cosine = rows[(rows.metric == "odd_one_out_cosine") & (rows.layer == "late")].iloc[0]
    assert cosine.score == direct and cosine.n == 1800 and cosine.ceiling == agreement.attrs["ceiling"]
    glocal = rows[(rows.metric == "glocal_odd_one_out") & (rows.layer == "late")].iloc[0]
    assert glocal.n == probe.sizes["test_judgement"] and glocal.score == probe.attrs["accuracy_after"]
    recovery = behaviour_recovery([root / "b.zarr"], {"judged": spec}, n_bootstrap=100, ci=0.95, seed=0)
    assert recovery.recovered.tolist() == [True] and recovery.runner_up_layer.tolist() == ["early"]
    assert not recovery.indistinguishable.iloc[0]
    # wired into summarize (rows appended to summary.csv and recovery.csv) and drawn
    summarize.run({"datasets": {"judged": spec}, "inference": {"n_bootstrap": 100}}, encoding=[], rsa=[],
                  behaviour=[root / "b.zarr"], out=root / "summary", seed=0)
    summary = pd.read_csv(root / "summary" / "summary.csv")
    assert len(summary) == 6 and set(summary.metric) == {"odd_one_out_cosine", "odd_one_out_dot", "glocal_odd_one_out"}
    assert pd.read_csv(root / "summary" / "recovery.csv").recovered.tolist() == [True]
    figure.run({}, kind="behaviour", behaviour=[root / "b.zarr"], out=root / "behaviour.png", seed=0)
    assert (root / "behaviour.png").stat().st_size > 10_000


def test_two_afc_and_similarity_matrices(stores):
    root, stimuli, feats, layers = stores
    rng = np.random.default_rng(2)
    judgements = np.stack([rng.choice(N, 3, replace=False) for _ in range(200)])
    x = layers["early"] / np.linalg.norm(layers["early"], axis=1, keepdims=True)
    closer_b = np.sum(x[judgements[:, 0]] * x[judgements[:, 2]], 1) > np.sum(x[judgements[:, 0]] * x[judgements[:, 1]], 1)
    # items named by the stimulus table's 'concept' column (stimulus i is concept 139 - i); choice as a position
    pd.DataFrame({"reference": 139 - judgements[:, 0], "option_a": 139 - judgements[:, 1],
                  "option_b": 139 - judgements[:, 2], "choice": np.where(closer_b, 2, 1)}).to_csv(
        root / "afc.tsv", sep="\t", index=False)
    spec = _spec(kind="two_afc", judgements={"file": str(root / "afc.tsv"), "item_base": 0, "choice": "position",
                                             "item_column": "concept"})
    behaviour.run(spec, features=feats, stimuli=stimuli, judgements=root / "afc.tsv", out=root / "afc.zarr", seed=0)
    agreement = store.open_dataset(root / "afc.zarr", group="agreement")
    assert agreement.score.sel(layer="early", metric="two_afc_cosine").item() == 1.0
    subjects = np.stack([np.corrcoef(layers["late"] + 0.3 * rng.standard_normal((N, 5)))[:20, :20]
                         for _ in range(4)])
    np.save(root / "sim.npy", subjects)
    spec = _spec(kind="similarity", judgements={"file": str(root / "sim.npy"), "item_base": 1, "measure": "similarity"})
    behaviour.run(spec, features=feats, stimuli=stimuli, judgements=root / "sim.npy", out=root / "sim.zarr", seed=0)
    agreement = store.open_dataset(root / "sim.zarr", group="agreement")
    rsa = agreement.score.sel(metric="rsa_spearman")
    assert rsa.sel(layer="late") > 0.5 > rsa.sel(layer="early")
    assert 0 < agreement.attrs["ceiling"] <= 1


def test_stage_errors_name_file_and_column(stores):
    root, stimuli, feats, _ = stores
    (root / "bad.tsv").write_text("item1\titem2\titem3\tchoice\n0\t1\t40\t1\n")
    spec = _spec(kind="triplets", judgements={"file": str(root / "bad.tsv"), "item_base": 0, "choice": "position"})
    with pytest.raises(InputError, match=r"bad.tsv, column 'item3': item\(s\) 40 are outside \[0, 39\]"):
        behaviour.run(spec, features=feats, stimuli=stimuli, judgements=root / "bad.tsv", out=root / "x.zarr", seed=0)
    spec["judgements"]["item_column"] = "things_id"
    with pytest.raises(InputError, match=r"'judgements.item_column' is 'things_id', which is not a column"):
        behaviour.run(spec, features=feats, stimuli=stimuli, judgements=root / "bad.tsv", out=root / "x.zarr", seed=0)
    assert not (root / "x.zarr").exists()
