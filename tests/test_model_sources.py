"""Model sources as a new user meets them: installing the optional packages, Hugging Face image
models saved without an image processor, hub ids fetched before the (offline) jobs, layer globs.

torchvision, timm and open_clip are not importable here (PyPI's torchvision wheels are built for
CUDA torch and fail to import with the local CPU torch), so their install hints are checked by
simulating the failed import: a package that is absent, and one that is installed but raises
while importing, as a torchvision built for another torch does.
"""

from __future__ import annotations

import logging
import re
import shutil
import sys
import textwrap
import tomllib
import types
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
import yaml

from brainalign import cli
from brainalign.models import extract_features, load_model
from brainalign.models import adapter as adapter_mod
from brainalign.models import layers as layers_mod
from brainalign.models.cifar_resnet import CifarResNet
from brainalign.models.fetch import fetch_model
from brainalign.models.huggingface import resolve_path
from brainalign.models.layers import select_layers, select_names
from brainalign.models.pooling import pooling_per_layer
from brainalign.store import open_dataset
from tolerance import assert_close_float32

transformers = pytest.importorskip("transformers")
hf_hub = pytest.importorskip("huggingface_hub")

PROJECT = Path(__file__).resolve().parents[1]
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


def _stimuli(images) -> xr.Dataset:
    return xr.Dataset({"image": (("stimulus", "y", "x", "channel"), images)},
                      coords={"stimulus_id": ("stimulus", [f"s{i}" for i in range(len(images))])})


# ------------------------------------------------------------------- extras and install hints
def _pin(requirements: list[str], name: str) -> str:
    """The exact version ``name==V`` pins in a list of requirements."""
    [requirement] = [r for r in requirements if re.split(r"[=<>!~\[ ]", r)[0] == name]
    assert "==" in requirement, requirement
    return requirement.split("==")[1]


def test_vision_and_clip_extras_pin_the_torchvision_release_of_the_pinned_torch():
    extras = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    readme_torch = re.findall(r"pip install torch==([\d.]+)", (PROJECT / "README.md").read_text())
    ci_torch = re.findall(r"pip install -q torch==([\d.]+)", (PROJECT / ".ci" / "run").read_text())
    assert set(readme_torch) == set(ci_torch) and len(set(ci_torch)) == 1
    torch_pin = ci_torch[0]
    major, minor, patch = map(int, torch_pin.split("."))
    for extra, packages in (("vision", {"timm"}), ("clip", {"timm", "open_clip_torch"})):
        reqs = extras[extra]
        assert _pin(reqs, "torch") == torch_pin
        # torchvision 0.(m + 15).p requires exactly torch 2.m.p (0.28.0 <-> 2.13.0)
        assert _pin(reqs, "torchvision") == f"0.{minor + 15}.{patch}" and major == 2
        assert packages <= {re.split(r"[=<>!~\[ ]", r)[0] for r in reqs}


@pytest.mark.parametrize("torch_version, cpu", [("2.13.0+cpu", True), ("2.13.0", False)])
def test_missing_package_names_the_extra_and_the_matching_torchvision(monkeypatch, torch_version, cpu):
    monkeypatch.setattr(torch, "__version__", torch_version)
    monkeypatch.setitem(sys.modules, "torchvision", None)  # makes `import torchvision` fail
    with pytest.raises(ModuleNotFoundError) as err:
        load_model({"source": "torchvision", "name": "resnet18", "layers": ["x"]})
    message = str(err.value)
    assert "'torchvision', which is not installed" in message and "\n" not in message
    assert "pip install -e '.[vision]'" in message and "pip install 'brainalign[vision]'" in message
    pinned = _pin(tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
                  ["optional-dependencies"]["vision"], "torchvision")
    assert f"torchvision {pinned} is the release for torch 2.13.0" in message
    cpu_step = f"pip install torchvision=={pinned}+cpu --index-url https://download.pytorch.org/whl/cpu, then"
    assert (cpu_step in message) == cpu
    assert "pip install torchvision" not in message.replace(cpu_step, "")  # never the bare package


def _fake_package(root: Path, name: str, body: str, monkeypatch) -> None:
    (root / name).mkdir()
    (root / name / "__init__.py").write_text(textwrap.dedent(body))
    monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.syspath_prepend(str(root))


def test_package_built_for_another_torch_says_so(tmp_path, monkeypatch):
    _fake_package(tmp_path, "torchvision", 'raise RuntimeError("operator torchvision::nms does not exist")\n',
                  monkeypatch)
    with pytest.raises(ImportError) as err:
        load_model({"source": "torchvision", "name": "resnet18", "layers": ["x"]})
    assert not isinstance(err.value, ModuleNotFoundError)
    assert re.search(rf"model source 'torchvision': torchvision .*installed but fails to import with torch "
                     rf"{re.escape(torch.__version__)} \(RuntimeError: operator torchvision::nms does not exist\)"
                     r": .*built for another torch; .*pip install -e '\.\[vision\]'", str(err.value))


def test_missing_dependency_of_an_installed_package_is_named(tmp_path, monkeypatch):
    _fake_package(tmp_path, "open_clip", "import no_such_dependency_xyz\n", monkeypatch)
    with pytest.raises(ModuleNotFoundError, match=r"'open_clip_torch', which cannot import "
                                                  r"'no_such_dependency_xyz'.*\.\[clip\]"):
        load_model({"source": "open_clip", "name": "ViT-B-32", "input": "image", "layers": ["x"]})


# ------------------------------------------------- Hugging Face image models without a processor
@pytest.fixture(scope="module")
def bare_vit(tmp_path_factory):
    """A 4-block ViT with random weights saved with save_pretrained alone (no image processor)."""
    path = tmp_path_factory.mktemp("bare-vit")
    config = transformers.ViTConfig(hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                                    intermediate_size=32, image_size=32, patch_size=8)
    torch.manual_seed(0)
    transformers.ViTModel(config).save_pretrained(path)
    assert not (path / "preprocessor_config.json").exists()
    return path


def _blocks(module) -> str:
    """The name of the ViT's list of blocks (``encoder.layer``; ``layers`` from transformers 5)."""
    [name] = [n for n, m in module.named_modules() if isinstance(m, torch.nn.ModuleList)]
    return name


def _vit_spec(path, **extra):
    blocks = _blocks(transformers.ViTModel(transformers.ViTConfig.from_pretrained(path)))
    return {"source": "huggingface", "path": str(path), "input": "image",
            "layers": [blocks.replace(".", "/") + "/*"], "pooling": "cls", "batch_size": 3, **extra}


def test_vit_without_processor_gets_the_stated_default_transform(tmp_path, bare_vit, caplog):
    images = np.random.default_rng(1).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    with caplog.at_level(logging.WARNING, logger="brainalign.models.huggingface"):
        model = load_model(_vit_spec(bare_vit))
    [record] = [r for r in caplog.records if r.name == "brainalign.models.huggingface"]
    assert re.search(r"has no preprocessor_config\.json; images are resized to 32x32 and normalised with "
                     r"the ImageNet mean \[0\.485, 0\.456, 0\.406\] and std \[0\.229, 0\.224, 0\.225\]",
                     record.getMessage())
    assert model.describe()["preprocessing"]["image_size"] == 32
    path = extract_features(_vit_spec(bare_vit), _stimuli(images), tmp_path / "f.zarr", params={},
                            inputs=[], seed=0)
    # reference: the normalisation written out in numpy (32x32 images: no resize), run by transformers
    pixels = ((images / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2)
    with torch.no_grad():
        hidden = model.module(pixel_values=torch.tensor(pixels, dtype=torch.float32),
                              output_hidden_states=True).hidden_states
    for k in range(4):  # hidden_states[0] is the embedding output, block k gives hidden_states[k + 1]
        stored = open_dataset(path, group=f"{_blocks(model.module)}.{k}").features.values
        assert_close_float32(stored, hidden[k + 1][:, 0].numpy())


def test_stated_mean_and_std_replace_the_guess_without_warning(bare_vit, caplog):
    with caplog.at_level(logging.WARNING, logger="brainalign.models.huggingface"):
        model = load_model(_vit_spec(bare_vit, mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25], image_size=16))
    assert not [r for r in caplog.records if r.name == "brainalign.models.huggingface"]
    images = np.full((2, 20, 20, 3), 255, dtype=np.uint8)
    x = model.preprocess(images).kwargs["pixel_values"]
    assert x.shape == (2, 3, 16, 16)
    assert_close_float32(x.numpy(), np.full(x.shape, (1 - 0.5) / 0.25))


def test_model_without_processor_or_image_size_is_a_one_line_error(tmp_path):
    config = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 8], depths=[1, 1])
    transformers.ResNetModel(config).save_pretrained(tmp_path)
    spec = {"source": "huggingface", "path": str(tmp_path), "input": "image", "layers": ["x"]}
    with pytest.raises(ValueError, match=r"^model spec key 'image_size': .* has no preprocessor_config\.json "
                                         r"and its config\.json gives no square image_size \(None\): set the "
                                         r"model's image_size"):
        load_model(spec)
    assert load_model({**spec, "image_size": 24}).describe()["preprocessing"]["image_size"] == 24


# --------------------------------------------------------------- hub ids: offline, and fetched
@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache, offline."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(hf_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_hub.constants, "HF_HUB_OFFLINE", True)
    return cache


def test_hub_id_missing_from_the_cache_names_the_fetch_step(hub_cache):
    with pytest.raises(ValueError, match=rf"'path': 'org-x/no-such-model' is neither a local directory nor a "
                                         rf"model in the local Hugging Face cache {re.escape(str(hub_cache))} "
                                         rf"\(set by HF_HOME or HF_HUB_CACHE\).*brainalign fetch-models CONFIG.*"
                                         rf"hf download org-x/no-such-model"):
        resolve_path("org-x/no-such-model")


def _study(tmp_path, models: dict) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"models": models}, sort_keys=False))
    return path


def test_fetch_models_fills_the_cache_the_loader_reads(tmp_path, hub_cache, bare_vit, capsys):
    # the cache as `hf download org-x/bare-vit` leaves it: refs/main -> snapshots/<commit>/files
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = hub_cache / "models--org-x--bare-vit"
    shutil.copytree(bare_vit, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    vit = {"source": "huggingface", "path": "org-x/bare-vit", "input": "image", "layers": ["x"]}
    cnn = {"source": "builtin", "name": "small_cnn", "input": "image", "layers": ["conv1"]}
    assert cli.main(["fetch-models", str(_study(tmp_path, {"vit": vit, "cnn": cnn}))]) == 0
    snapshot = repo / "snapshots" / commit
    assert capsys.readouterr().out.splitlines() == [
        f"vit: huggingface org-x/bare-vit -> {snapshot}",
        "cnn: builtin: nothing to download (local files or no weights)"]
    assert load_model(vit).describe()["model"]["directory"] == str(snapshot)


def test_fetch_models_failure_is_one_line_naming_the_model(tmp_path, hub_cache, capsys):
    study = _study(tmp_path, {"vit": {"source": "huggingface", "path": "org-x/absent", "input": "image",
                                      "layers": ["x"]}})
    assert cli.main(["fetch-models", str(study)]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("brainalign fetch-models: error: models.vit: nothing fetched (")


@pytest.fixture
def torchvision_without_cache(monkeypatch, tmp_path):
    """A torchvision whose weights are not cached and cannot be downloaded (no network)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    fetched = []

    class Weights:  # the part of a torchvision weights enum that the adapter uses
        __members__ = {"IMAGENET1K_V1": None}

        def __class_getitem__(cls, key):
            return types.SimpleNamespace(name=key, url="https://download.invalid/net-1234.pth",
                                         get_state_dict=lambda **kw: fetched.append(kw))

    def get_model(name, *, weights=None, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    models = types.ModuleType("torchvision.models")
    models.get_model, models.get_model_weights = get_model, lambda name: Weights
    package = types.ModuleType("torchvision")
    package.models = models
    monkeypatch.setitem(sys.modules, "torchvision", package)
    monkeypatch.setitem(sys.modules, "torchvision.models", models)
    return fetched


def test_torchvision_weights_out_of_cache_name_torch_home_and_the_fetch_step(tmp_path, torchvision_without_cache):
    spec = {"source": "torchvision", "name": "net", "weights": "IMAGENET1K_V1", "layers": ["x"]}
    hub_dir = re.escape(str(tmp_path / "torch-home" / "hub"))
    with pytest.raises(ValueError, match=rf"'weights': torchvision weights IMAGENET1K_V1 of 'net' are not in the "
                                         rf"torch hub cache {hub_dir}/checkpoints \(set by TORCH_HOME\).*name "
                                         rf"resolution.*brainalign fetch-models CONFIG"):
        load_model(spec)
    line = fetch_model(spec)
    assert torchvision_without_cache == [{"progress": False, "check_hash": True}]
    assert line == f"torchvision net IMAGENET1K_V1 -> {tmp_path / 'torch-home' / 'hub' / 'checkpoints' / 'net-1234.pth'}"


# ------------------------------------------------------------------------------- layer globs
@pytest.fixture
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(layers_mod, "_warned", set())


def test_whole_name_glob_on_vit_warns_and_slash_form_takes_the_blocks(bare_vit, caplog, fresh_warnings):
    module = transformers.ViTModel.from_pretrained(bare_vit)
    blocks = _blocks(module)  # encoder.layer, or layers (transformers 5)
    glob, slash = f"{blocks}.*", blocks.replace(".", "/") + "/*"
    with caplog.at_level(logging.WARNING, logger="brainalign.models.layers"):
        everything = select_layers(module, [glob])
        chosen = select_layers(module, [slash])
    assert chosen == [f"{blocks}.{k}" for k in range(4)]
    below = [n for n, _ in module.named_modules() if n.startswith(f"{blocks}.")]
    assert everything == below and len(everything) > 4 * 5  # the blocks and every module inside them
    [record] = caplog.records
    assert record.getMessage() == (
        f"model spec key 'layers': {glob!r} matches {len(below)} modules, {len(below) - 4} of them inside "
        f"other chosen layers (e.g. '{below[1]}' inside '{blocks}.0'), each extracted as a layer of its own; "
        f"for one level of the module tree write {slash!r} (4 modules: {', '.join(chosen)})")


def test_slash_globs_match_part_by_part(caplog, fresh_warnings):
    names = [n for n, _ in CifarResNet(20).named_modules() if n]
    with caplog.at_level(logging.WARNING, logger="brainalign.models.layers"):
        assert select_names(names, ["/layer*"]) == ["layer1", "layer2", "layer3"]
        assert select_names(names, ["layer*/?"]) == [f"layer{i}.{j}" for i in (1, 2, 3) for j in range(3)]
        assert select_names(names, ["layer2/*/conv[12]"]) == [f"layer2.{j}.conv{c}" for j in range(3)
                                                              for c in (1, 2)]
        assert select_names(names, ["layer*.conv2"]) == [f"layer{i}.{j}.conv2" for i in (1, 2, 3)
                                                         for j in range(3)]  # nothing nested: no warning
        assert not caplog.records
        select_names(names, ["layer*"])
        select_names(names, ["layer*"])  # logged once per process
    assert len(caplog.records) == 1 and "write '/layer*' (3 modules: layer1, layer2, layer3)" in caplog.text
    with pytest.raises(ValueError, match="'layer9/\\*' matches no layer"):
        select_names(names, ["layer9/*"])


def test_pooling_keys_take_the_slash_form():
    modes = pooling_per_layer(["layer1.0", "layer1.0.conv1", "linear"],
                              {"layer1.0.conv1": "none", "layer1/*": "spatial_mean", "/lin*": "none"})
    assert modes == {"layer1.0": "spatial_mean", "layer1.0.conv1": "none", "linear": "none"}
    with pytest.raises(ValueError, match="no entry for layer 'layer1.0.conv1'"):
        pooling_per_layer(["layer1.0.conv1"], {"layer1/*": "none"})


def test_adapter_table_names_an_extra_for_every_optional_package():
    extras = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for dist, extra in adapter_mod.OPTIONAL_PACKAGES.values():
        requirements = {re.split(r"[=<>!~\[ ]", r)[0].replace("-", "_").lower() for r in extras[extra]}
        assert dist.lower() in requirements or (dist == "huggingface_hub" and "transformers" in requirements)
