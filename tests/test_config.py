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
