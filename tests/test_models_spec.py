"""Model specs: schema validation, defaults, clear errors, and the source registry."""

from __future__ import annotations

import sys

import jsonschema
import pytest

from brainalign.models import MODEL_SPEC_SCHEMA, load_model, validate_spec
from brainalign.models.registry import ADAPTERS, adapter
from brainalign.models.spec import SOURCES

SMALL_CNN = {"source": "builtin", "name": "small_cnn", "layers": ["conv1", "fc"]}


def test_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(MODEL_SPEC_SCHEMA)


def test_every_source_has_an_adapter():
    assert set(ADAPTERS) == set(SOURCES)


def test_defaults_are_filled_and_layers_become_a_list():
    spec = validate_spec({"source": "builtin", "name": "mlp", "layers": "fc1"})
    assert spec == {"source": "builtin", "name": "mlp", "layers": ["fc1"], "input": "image",
                    "pooling": "none", "batch_size": 32, "device": "auto",
                    "precision": "float32"}


def test_null_values_count_as_absent():
    spec = validate_spec({"source": "builtin", "name": "mlp", "layers": ["fc1"], "reduce": None,
                          "seed": None})
    assert "reduce" not in spec and "seed" not in spec


def test_validate_does_not_modify_its_argument():
    spec = {"source": "builtin", "name": "mlp", "layers": "fc1"}
    validate_spec(spec)
    assert spec == {"source": "builtin", "name": "mlp", "layers": "fc1"}


@pytest.mark.parametrize("spec, fragments", [
    ({**SMALL_CNN, "source": "keras"}, ["'source'", "'keras'"]),
    ({"source": "builtin", "layers": ["fc"]}, ["'name' is a required property", "'builtin'"]),
    ({**SMALL_CNN, "depth": 20}, ["'depth'", "does not apply to source 'builtin'"]),
    ({**SMALL_CNN, "pooling": "max"}, ["'pooling'", "'max'"]),
    ({**SMALL_CNN, "pooling": {"conv1": "maximum"}}, ["'pooling.conv1'", "'maximum'"]),
    ({**SMALL_CNN, "batch_size": 0}, ["'batch_size'", "0"]),
    ({**SMALL_CNN, "precision": "int8"}, ["'precision'", "'int8'"]),
    ({**SMALL_CNN, "device": "tpu"}, ["'device'", "'tpu'"]),
    ({**SMALL_CNN, "input": "text"}, ["'input'", "reads images", "'text'"]),
    ({**SMALL_CNN, "reduce": {"method": "svd", "n_components": 4}}, ["'reduce.method'", "'svd'"]),
    ({**SMALL_CNN, "reduce": {"method": "srp", "n_components": 4, "fit_on": 8}}, ["'reduce'"]),
    ({**SMALL_CNN, "layers": []}, ["'layers'"]),
    ({"source": "huggingface", "path": "x", "layers": ["a"]}, ["'input' is a required"]),
    ({"source": "callable", "target": "no_colon", "input": "image", "layers": ["a"]},
     ["'target'", "'no_colon'"]),
    ({"source": "cifar_resnet", "depth": 21, "weights": "w.th", "layers": ["a"]},
     ["'depth'", "21"]),
])
def test_bad_specs_name_the_key_and_value(spec, fragments):
    with pytest.raises(ValueError) as err:
        validate_spec(spec)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_spec_must_be_a_mapping():
    with pytest.raises(TypeError, match="mapping"):
        validate_spec(["builtin"])


def test_unknown_builtin_name_is_named():
    with pytest.raises(ValueError, match="unknown builtin model 'resnet'"):
        load_model({**SMALL_CNN, "name": "resnet"})


def test_unknown_source_in_registry_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown source 'keras'.*builtin"):
        adapter("keras")


@pytest.mark.parametrize("source, package, spec", [
    ("torchvision", "torchvision", {"name": "resnet18"}),
    ("timm", "timm", {"name": "resnet18"}),
    ("open_clip", "open_clip", {"name": "ViT-B-32", "input": "image"}),
])
def test_missing_optional_package_says_what_to_install(monkeypatch, source, package, spec):
    monkeypatch.setitem(sys.modules, package, None)  # makes `import package` fail
    extra = "clip" if package == "open_clip" else "vision"  # pyproject.toml's extras
    with pytest.raises(ModuleNotFoundError, match=rf"pip install -e '\.\[{extra}\]'"):
        load_model({"source": source, "layers": ["x"], **spec})
