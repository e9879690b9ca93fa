"""The terminal and the stage commands as a user meets them (issue 15): ``--help`` lists the spec's
keys with the schema's defaults, a partial spec or a config entry as written is completed as the
study config would be, ``brainalign layers`` and ``brainalign check`` work from a config file,
nested ``--config`` overrides reach the stages typed, logs land under ``results_dir``, and the
default terminal shows one line per finished job and no stage config as JSON.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import re
import sys
import time

import pytest
import yaml

from brainalign import cli, config, store
from brainalign.config import shared_data_dir
from brainalign.configfile import load_config_file, typed_overrides
from brainalign.progress import progress
from brainalign.run_warnings import run_warnings
from brainalign.stage_spec import complete_entry, complete_spec
from study_runner import PROJECT, TEST_CONFIG, snakemake

SCHEMA = PROJECT / "config" / "schema.yaml"
RAW_SCHEMA = yaml.safe_load(SCHEMA.read_text())  # read here on its own: the reference for defaults


def _schema_default(section: str, key: str):
    return RAW_SCHEMA["properties"][section]["properties"][key]["default"]


def test_stage_help_lists_every_key_with_its_schema_default(capsys):
    with pytest.raises(SystemExit):
        cli.main(["rsa", "--help"])
    text = capsys.readouterr().out
    for key in RAW_SCHEMA["properties"]["rsa"]["properties"]:
        assert re.search(rf"^  {key}\b", text, re.M), key
    for key in ("rdm", "comparator", "n_bootstrap"):
        assert f"  {key} = {_schema_default('rsa', key)}  [" in text
    with pytest.raises(SystemExit):
        cli.main(["encoding", "--help"])
    text = capsys.readouterr().out
    assert "  inner_folds = 3  [" in text and "unit_jobs" not in text  # unit_jobs: the rule's, not the stage's


def test_partial_spec_is_completed_with_the_schema_defaults():
    assert complete_spec("rsa", {}) == {k: _schema_default("rsa", k) for k in ("rdm", "comparator", "n_bootstrap")}
    given = complete_spec("rsa", {"comparator": "pearson", "dataset": "sim"})
    assert given["comparator"] == "pearson" and given["dataset"] == "sim" and given["rdm"] == "correlation"
    decode = complete_spec("decode", {"C": 2.0})
    assert decode == {"C": 2.0, "classifier": "logistic_regression", "standardize": True}


def test_config_entries_as_written_are_resolved_as_the_study_config_resolves_them(tmp_path):
    # a real MEG dataset entry as a user writes it (the KeyError: 'drop_unknown')
    entry = {"modality": "meg", "stimuli": "shapes", "subjects": ["01"], "task": "view", "path": str(tmp_path),
             "files": ["sub-{subject}/*.fif"], "preprocessing": {"tmin": -0.1, "tmax": 0.5}}
    resolved = config._meg_dataset(copy.deepcopy(entry), {}, "datasets.x", "unused")  # the study config's own
    assert complete_entry("meg", entry) == resolved and resolved["drop_unknown"] is False
    raw = load_config_file(TEST_CONFIG)
    model = complete_entry("model", raw["models"]["resnet20"])
    assert model["weights"] == raw["models"]["resnet20"]["weights"].replace("{shared_data}", shared_data_dir({}))
    assert model["batch_size"] == RAW_SCHEMA["$defs"]["model"]["properties"]["batch_size"]["default"]
    glm = RAW_SCHEMA["properties"]["datasets"]["additionalProperties"]["properties"]["glm"]["properties"]
    assert complete_entry("fmri", raw["datasets"]["sim"])["glm"] == {k: v["default"] for k, v in glm.items()
                                                                     if "default" in v}


def test_layers_from_a_config_file_and_a_model_name(capsys):
    assert cli.main(["layers", "--config", str(TEST_CONFIG), "--model", "cnn"]) == 0
    rows = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    assert {"conv1", "conv3", "fc"} <= set(rows) and rows["conv1.0"] == "Conv2d"
    assert cli.main(["layers", "--config", str(TEST_CONFIG), "--model", "nope"]) == 1
    assert "no model 'nope' under 'models'" in capsys.readouterr().err


def test_check_a_good_and_a_bad_config(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(PROJECT)
    assert cli.main(["check", str(TEST_CONFIG)]) == 0
    assert capsys.readouterr().out.startswith("config OK: 2 stimulus sets")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**load_config_file(TEST_CONFIG), "rsa": {"n_bootstrap": -1}}))
    assert cli.main(["check", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'rsa.n_bootstrap'" in err
    assert cli.main(["check-config", str(TEST_CONFIG), "--config", "rsa={n_bootstrap: -1}"]) == 1  # former name
    assert "'rsa.n_bootstrap'" in capsys.readouterr().err


def test_nested_config_overrides_are_typed():
    # Snakemake reads `--config rsa={n_bootstrap: 50}` with YAML's base loader: every leaf a string
    assert typed_overrides({"rsa": {"n_bootstrap": "50", "rdm": "cosine"}, "seed": 3}) == \
        {"rsa": {"n_bootstrap": 50, "rdm": "cosine"}, "seed": 3}
    assert typed_overrides({"encoding": {"alphas": ["0.1", "10"]}}) == {"encoding": {"alphas": [0.1, 10]}}


def test_run_warnings_are_those_logged_since_the_run_started(tmp_path):
    logs = tmp_path / "logs"
    (logs / "rsa").mkdir(parents=True)
    old, new = logs / "rsa" / "old.log", logs / "rsa" / "new.log"
    old.write_text("2026-01-01 brainalign.stages.rsa WARNING: from an earlier run\n")
    os.utime(old, (time.time() - 100, time.time() - 100))
    new.write_text("t brainalign.stages.rsa INFO: fine\nt brainalign.stages.rsa WARNING: ROI v1 left out of RSA\n")
    assert run_warnings(logs, time.time() - 10) == [f"{new}: ROI v1 left out of RSA"]


@pytest.fixture(scope="module")
def stimuli_run(tmp_path_factory):
    """One real job (the stimulus set) of the test study, through the default profile, with a
    nested override as Snakemake's --config takes it."""
    tmp = tmp_path_factory.mktemp("ux")
    results, study = tmp / "results", load_config_file(TEST_CONFIG)
    study["stimuli"] = {"shapes": study["stimuli"]["shapes"]}  # one set, one model: a quick validation
    study["models"] = {"cnn": study["models"]["cnn"]}
    study["datasets"] = {"sim": study["datasets"]["sim"]}
    study["datasets"]["sim"]["simulate"]["rois"] = {"visual": {"model": "cnn", "layer": "conv1"}}
    (tmp / "study.yaml").write_text(yaml.safe_dump(study))
    overrides = [f"results_dir={results}", "allow_results_outside=True", "stimuli={shapes: {image_size: 16}}"]
    return results, snakemake(str(results / "stimuli" / "shapes.zarr"), "--config", *overrides, results=results,
                              configfile=tmp / "study.yaml")


def test_nested_override_reaches_the_stage_typed(stimuli_run):
    results, _ = stimuli_run  # a string "16" would have failed validation (type integer)
    assert store.open_dataset(results / "stimuli" / "shapes.zarr").sizes["x"] == 16


def test_logs_land_under_results_dir(stimuli_run):
    results, _ = stimuli_run
    assert "rendered" in (results / "logs" / "stimuli" / "shapes.log").read_text()


def test_default_terminal_is_one_line_per_job_without_json(stimuli_run):
    results, out = stimuli_run
    text = out.stdout + out.stderr
    assert re.search(rf"\] 1/1 stimuli: {re.escape(str(results / 'stimuli' / 'shapes.zarr'))}$", text, re.M), text
    assert "(update)" not in text and "Execute 1 jobs" not in text  # Snakemake's flags and scheduler chatter
    assert "--spec" not in text and '{"' not in text and "rule stimuli:" not in text


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal_and_not_when_quiet(monkeypatch, caplog):
    items = [1, 2, 3]
    assert progress(items, desc="x", unit="it") is items  # pytest's stderr is no terminal
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    caplog.set_level(logging.INFO, logger="brainalign")  # as `brainalign <stage>` sets it
    assert list(progress(items, desc="features", unit="batch")) == items
    assert "features:   0%" in terminal.getvalue() and "0/3" in terminal.getvalue()
    caplog.set_level(logging.WARNING, logger="brainalign")
    assert progress(items, desc="x", unit="it") is items


def test_a_stage_runs_by_hand_from_an_empty_spec(tmp_path):
    stimuli, features = tmp_path / "stimuli.zarr", {}
    assert cli.main(["stimuli", "--spec", '{"kind": "shapes", "image_size": 8, "colours": ["red"], "sizes": ["large"]}',
                     "--out", str(stimuli)]) == 0
    for name, seed in (("a", 1), ("b", 2)):
        features[name] = tmp_path / f"{name}.zarr"
        model = {"source": "random", "input": "image", "layers": ["embedding"], "n_units": 6, "seed": seed}
        assert cli.main(["features", "--spec", json.dumps(model), "--stimuli", str(stimuli),
                         "--out", str(features[name])]) == 0
    out = tmp_path / "similarity.zarr"
    assert cli.main(["similarity", "--spec", "{}", "--features", *(f"{k}={v}" for k, v in features.items()),
                     "--out", str(out)]) == 0
    metrics = RAW_SCHEMA["properties"]["similarity"]["properties"]["metrics"]["default"]
    assert list(store.open_dataset(out)["metric"].values) == metrics
