"""Stimulus-set config: a model without its input in a set fails validation, naming the key."""

import numpy as np
import pytest
from PIL import Image

from brainalign.config import ConfigError, validate_config
from brainalign.plan import StudyPlan
from study_runner import PROJECT

SCHEMA = PROJECT / "config" / "schema.yaml"
CNN = {"source": "builtin", "name": "small_cnn", "seed": 1, "input": "image", "layers": ["conv1"]}
TEXT = {"source": "random", "input": "text", "layers": ["e"], "n_units": 4}


def study(tmp_path, stimuli, models):
    for name in ("a", "b"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / f"{name}.png")
    return {"seed": 0, "stimuli": stimuli, "models": models,
            "datasets": {"d": {"stimuli": next(iter(stimuli)), "subjects": ["01"], "task": "t",
                               "simulate": {"rois": {"r": {"model": next(iter(models)), "layer": "conv1"}}}}}}


def test_text_model_on_a_set_without_texts_is_a_config_error(tmp_path):
    photos = {"kind": "image_folder", "path": str(tmp_path)}
    config = study(tmp_path, {"photos": photos}, {"cnn": CNN, "words": TEXT})
    with pytest.raises(ConfigError, match=r"key 'models.words.input': model 'words' reads text, which stimulus set "
                                          r"'photos' \(image_folder\) does not have \(give its table a 'caption' column"):
        validate_config(config, SCHEMA)
    config["stimuli"]["photos"]["models"] = ["cnn"]
    assert StudyPlan(validate_config(config, SCHEMA)).models_for("photos") == ["cnn"]
    (tmp_path / "t.tsv").write_text("stimulus_id\tfile\tcaption\na\ta.png\ta black square\nb\tb.png\tanother\n")
    config["stimuli"]["photos"] = {"kind": "image_folder", "path": str(tmp_path), "table": str(tmp_path / "t.tsv")}
    assert StudyPlan(validate_config(config, SCHEMA)).models_for("photos") == ["cnn", "words"]


def test_image_model_on_words_and_unknown_models_are_named(tmp_path):
    config = study(tmp_path, {"w": {"kind": "words", "items": ["a", "b"]}}, {"cnn": CNN})
    with pytest.raises(ConfigError, match=r"key 'models.cnn.input': model 'cnn' reads image, which stimulus set 'w' "
                                          r"\(words\) does not have \(list the models that see it under 'stimuli.w.models'\)"):
        validate_config(config, SCHEMA)
    config["stimuli"]["w"]["models"] = ["cnn"]
    with pytest.raises(ConfigError, match=r"key 'stimuli.w.models': model 'cnn' reads image"):
        validate_config(config, SCHEMA)
    config["stimuli"]["w"]["models"] = ["vit"]
    with pytest.raises(ConfigError, match=r"key 'stimuli.w.models' names model\(s\) \['vit'\]"):
        validate_config(config, SCHEMA)


def test_image_folder_files_are_checked_at_validation(tmp_path, monkeypatch):
    config = study(tmp_path, {"photos": {"kind": "image_folder", "path": "{shared_data}/imgs",
                                         "table": "{shared_data}/imgs/t.csv"}}, {"cnn": CNN})
    (tmp_path / "imgs").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "imgs" / "a.png")
    (tmp_path / "imgs" / "t.csv").write_text("stimulus_id,file\na,a.png\nb,b.png\n")
    monkeypatch.setenv("BRAINALIGN_SHARED_DATA", str(tmp_path))
    with pytest.raises(ConfigError, match=r"key 'stimuli.photos': stimuli image_folder: table .*t\.csv names "
                                          r"missing image file\(s\) \['.*imgs/b\.png'\]"):
        validate_config(config, SCHEMA)
    (tmp_path / "imgs" / "t.csv").write_text("stimulus_id,file\na,a.png\n")
    assert validate_config(config, SCHEMA)["stimuli"]["photos"]["path"] == f"{tmp_path}/imgs"
    with pytest.raises(ConfigError, match=r"key 'stimuli.photos.resize' is 'fill'; allowed values"):
        validate_config({**config, "stimuli": {"photos": {**config["stimuli"]["photos"], "resize": "fill"}}}, SCHEMA)
    with pytest.raises(ConfigError, match=r"missing required key 'stimuli.photos.path'"):
        validate_config({**config, "stimuli": {"photos": {"kind": "image_folder"}}}, SCHEMA)
