"""Config validation: each kind of mistake gives one message that names the key at fault."""

import copy
from pathlib import Path

import pytest
import yaml

from brainalign.config import ConfigError, validate_config
from brainalign.plan import StudyPlan

PROJECT = Path(__file__).resolve().parents[1]
SCHEMA = PROJECT / "config" / "schema.yaml"


@pytest.fixture(params=["config.yaml", "test.yaml"])
def study(request, shared_data, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_SHARED_DATA", str(shared_data))
    return yaml.safe_load((PROJECT / "config" / request.param).read_text())


def test_shipped_configs_are_valid(study):
    cfg = validate_config(study, SCHEMA)
    assert cfg["encoding"]["backend"] in ("numpy", "torch")
    assert "{shared_data}" not in cfg["models"]["resnet20"]["weights"]
    plan = StudyPlan(cfg)
    assert plan.models_for("shapes") == ["cnn", "resnet20", "mlp", "minilm"]
    assert len(plan.result_stores("encoding")) == 2 * 4


def _error(cfg) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(cfg, SCHEMA)
    return str(info.value)


def test_unknown_key_is_named(study):
    cfg = copy.deepcopy(study)
    cfg["models"]["cnn"]["layerz"] = ["conv1"]
    assert "unknown key 'models.cnn.layerz'" in _error(cfg)
    cfg = copy.deepcopy(study)
    cfg["encodng"] = {}
    assert "unknown key 'encodng'" in _error(cfg)


def test_missing_required_key_is_named(study):
    cfg = copy.deepcopy(study)
    del cfg["datasets"]["sim"]["subjects"]
    assert "missing required key 'datasets.sim.subjects'" in _error(cfg)


def test_wrong_type_is_named(study):
    cfg = copy.deepcopy(study)
    cfg["encoding"]["inner_folds"] = "three"
    msg = _error(cfg)
    assert "'encoding.inner_folds'" in msg and "integer" in msg and "'three'" in msg


def test_bad_enum_value_is_named(study):
    cfg = copy.deepcopy(study)
    cfg["rsa"]["rdm"] = "manhattan"
    assert "'rsa.rdm' is 'manhattan'" in _error(cfg)


def test_rsa_subset_is_an_rsa_setting(study):
    """``rsa.subset`` (RSA on e.g. NSD's shared images) validates where the README puts it, and
    nowhere else (it once sat under ``inference``, which rejected it here and ignored it there)."""
    cfg = copy.deepcopy(study)
    cfg["rsa"]["subset"] = {"column": "shared", "value": True}
    assert validate_config(cfg, SCHEMA)["rsa"]["subset"] == {"column": "shared", "value": True}
    cfg["rsa"]["subset"] = {"column": "shared"}
    assert "'rsa.subset.value'" in _error(cfg)
    cfg = copy.deepcopy(study)
    cfg.setdefault("inference", {})["subset"] = {"column": "shared", "value": True}
    assert "unknown key 'inference.subset'" in _error(cfg)


def test_missing_roi_mask_is_named(study, tmp_path):
    cfg = copy.deepcopy(study)
    cfg["datasets"]["real"] = {"stimuli": "shapes", "subjects": ["01"], "task": "x",
                               "path": str(tmp_path), "rois": {"v1": {"mask": "nowhere/v1.nii.gz"}}}
    msg = _error(cfg)
    assert "'datasets.real.rois.v1.mask'" in msg and "nowhere/v1.nii.gz" in msg


def test_cross_references_are_checked(study):
    cfg = copy.deepcopy(study)
    cfg["datasets"]["sim"]["simulate"]["rois"]["visual"]["layer"] = "conv9"
    assert "'datasets.sim.simulate.rois.visual.layer' is 'conv9'" in _error(cfg)
    cfg = copy.deepcopy(study)
    cfg["datasets"]["sim"]["stimuli"] = "faces"
    assert "'datasets.sim.stimuli'" in _error(cfg)


def test_unit_jobs_must_be_a_positive_integer(study):
    assert validate_config(copy.deepcopy(study), SCHEMA)["encoding"]["unit_jobs"] == 1  # default
    cfg = copy.deepcopy(study)
    cfg["encoding"]["unit_jobs"] = 0
    msg = _error(cfg)
    assert "'encoding.unit_jobs'" in msg and "minimum" in msg


# --------------------------------------------------------------------------- MEG/EEG datasets
def test_shipped_meg_part_is_planned(study):
    cfg = validate_config(study, SCHEMA)
    plan = StudyPlan(cfg)
    assert plan.datasets("meg") == ["meg"] and plan.datasets() == ["sim"]
    meg = cfg["datasets"]["meg"]
    assert meg["preprocessing"]["tmin"] == -0.1 and meg["events"]["source"] == "auto"  # resolved options
    assert meg["simulate_meg"]["white_fraction"] == 0.5  # a default filled in
    assert len(plan.result_stores("meg_align", "meg")) == 2 * 4
    assert plan.meg_recordings("meg", "01").endswith("meg_raw/meg/sub-01")
    assert plan.dataset_pattern("meg") == "meg" and plan.dataset_pattern("fmri") == "sim"


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["preprocessing"].update(lowpass=40), "unknown key 'datasets.meg.preprocessing.lowpass'"),
    (lambda d: d["preprocessing"].update(tmin="-0.1"), "key 'datasets.meg.preprocessing.tmin' must be of type"),
    (lambda d: d["preprocessing"].update(tmin=0.5, tmax=0.1), "key 'datasets.meg.preprocessing': preprocessing tmin"),
    (lambda d: d["preprocessing"].update(reject={"eeg": -1}), "'datasets.meg.preprocessing.reject.eeg'"),
    (lambda d: d["preprocessing"].update(picks=["eegg"]), "key 'datasets.meg.preprocessing': preprocessing picks"),
    (lambda d: d["events"].update(source="trigger") if "events" in d else d.update(events={"source": "trigger"}),
     "'datasets.meg.events.source' is 'trigger'"),
    (lambda d: d["simulate_meg"]["layers"]["early"].pop("latency"),
     "missing required key 'datasets.meg.simulate_meg.layers.early.latency'"),
    (lambda d: d["simulate_meg"]["layers"]["late"].update(layer="layer9"),
     "'datasets.meg.simulate_meg.layers.late.layer' is 'layer9'"),
    (lambda d: d["simulate_meg"].update(montage=32), "key 'datasets.meg.simulate_meg.montage' must be of type string"),
    (lambda d: d.update(glm={"method": "lsa"}), "key 'datasets.meg.glm' does not apply to a meg dataset"),
    (lambda d: d.update(modality="eeg"), "'datasets.meg.modality' is 'eeg'"),
    (lambda d: d.update(path="."), "give simulate_meg or real recordings"),
    (lambda d: d.pop("simulate_meg"), "missing required key 'datasets.meg.path'"),
    (lambda d: (d.pop("simulate_meg"), d.update(path="no/such/folder")), "'datasets.meg.path': folder no/such/folder"),
])
def test_bad_meg_dataset_is_named(study, edit, message):
    cfg = copy.deepcopy(study)
    edit(cfg["datasets"]["meg"])
    assert message in _error(cfg)


def test_meg_keys_on_an_fmri_dataset_and_time_resolved_are_checked(study):
    cfg = copy.deepcopy(study)
    cfg["datasets"]["sim"]["preprocessing"] = {"tmin": -0.1}
    assert "key 'datasets.sim.preprocessing' does not apply to a fmri dataset" in _error(cfg)
    cfg = copy.deepcopy(study)
    cfg["time_resolved"]["latency_window"] = [0.0]
    assert "'time_resolved.latency_window'" in _error(cfg)
    cfg = copy.deepcopy(study)
    cfg["time_resolved"]["window"] = 1.5
    assert "key 'time_resolved.window' must be of type integer" in _error(cfg)


def test_real_meg_dataset_paths_are_resolved(study, shared_data):
    cfg = copy.deepcopy(study)
    cfg["datasets"]["evoked"] = {"modality": "meg", "stimuli": "shapes", "subjects": ["sample"], "task": "x",
                                 "path": "{shared_data}/mne_evoked", "files": ["test-ave.fif.gz"],
                                 "stimulus_table": "{shared_data}/mne_evoked/no_table.tsv"}
    assert f"'datasets.evoked.stimulus_table': file {shared_data}/mne_evoked/no_table.tsv" in _error(cfg)
    del cfg["datasets"]["evoked"]["stimulus_table"]
    resolved = validate_config(cfg, SCHEMA)["datasets"]["evoked"]
    assert resolved["path"] == f"{shared_data}/mne_evoked" and resolved["average"] is True
