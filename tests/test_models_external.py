"""torchvision, timm, open_clip and callable sources.

torchvision, timm and open_clip are not installed here; each test injects a fake module into
``sys.modules`` with the part of the real API the adapter uses (same names and signatures),
and checks the adapter's features against a direct computation with the fake's own model and
transform.
"""

from __future__ import annotations

import enum
import hashlib
import sys
import textwrap
import types

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

from brainalign.models import extract_features, load_model
from brainalign.store import open_dataset
from tolerance import assert_close_float32


def _images(n=5, size=20, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _stimuli(**variables) -> xr.Dataset:
    n = len(next(iter(variables.values())))
    data = {k: (("stimulus",) if k == "text" else ("stimulus", "y", "x", "channel"), v)
            for k, v in variables.items()}
    return xr.Dataset(data, coords={"stimulus_id": ("stimulus", [f"s{i}" for i in range(n)])})


def _features(tmp_path, spec, stimuli, layer):
    path = extract_features(spec, stimuli, tmp_path / "f.zarr", params={}, inputs=[], seed=0)
    return open_dataset(path, group=layer).features.values


class TinyConvNet(nn.Module):
    def __init__(self, width: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(width, 3)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)))


def pil_transform(img) -> torch.Tensor:
    """A library-style per-image transform: PIL 20x20 -> crop 16x16 -> [-1, 1]."""
    x = torch.tensor(np.asarray(img), dtype=torch.float32).permute(2, 0, 1) / 255
    return x[:, 2:18, 2:18] * 2 - 1


def _direct(module, images, transform=pil_transform):
    from PIL import Image
    x = torch.stack([transform(Image.fromarray(img)) for img in images])
    outputs = {}
    hooks = [module.conv.register_forward_hook(lambda m, i, o: outputs.__setitem__("conv", o)),
             module.fc.register_forward_hook(lambda m, i, o: outputs.__setitem__("fc", o))]
    with torch.no_grad():
        module(x)
    for h in hooks:
        h.remove()
    return outputs


# ----------------------------------------------------------------------------- torchvision
class FakeNet_Weights(enum.Enum):  # noqa: N801 (torchvision's naming)
    IMAGENET1K_V1 = "https://download.invalid/fakenet-v1.pth"
    DEFAULT = "https://download.invalid/fakenet-v1.pth"  # an alias, as in torchvision

    @property
    def url(self):
        return self.value

    def transforms(self):
        return pil_transform


@pytest.fixture
def fake_torchvision(monkeypatch):
    calls = []

    def get_model_weights(name):
        assert name == "fakenet"
        return FakeNet_Weights

    def get_model(name, *, weights=None, **kwargs):
        calls.append((name, weights, kwargs))
        model = TinyConvNet(**kwargs)
        if weights is not None:  # "pretrained": fixed weights, independent of any RNG
            gen = torch.Generator().manual_seed(42)
            with torch.no_grad():
                for p in model.parameters():
                    p.copy_(torch.randn(p.shape, generator=gen))
        return model

    models = types.ModuleType("torchvision.models")
    models.get_model, models.get_model_weights = get_model, get_model_weights
    torchvision = types.ModuleType("torchvision")
    torchvision.models = models
    monkeypatch.setitem(sys.modules, "torchvision", torchvision)
    monkeypatch.setitem(sys.modules, "torchvision.models", models)
    return calls


def test_torchvision_pretrained_uses_the_weights_transforms(tmp_path, fake_torchvision):
    images = _images()
    spec = {"source": "torchvision", "name": "fakenet", "weights": "DEFAULT",
            "layers": ["conv"], "pooling": "spatial_mean", "batch_size": 2}
    stored = _features(tmp_path, spec, _stimuli(image=images), "conv")
    name, weights, _ = fake_torchvision[-1]
    assert (name, weights) == ("fakenet", FakeNet_Weights.IMAGENET1K_V1)
    ref = _direct(sys.modules["torchvision.models"].get_model("fakenet", weights=weights), images)
    assert_close_float32(stored, ref["conv"].mean(dim=(2, 3)).numpy())
    desc = load_model(spec).describe()["model"]
    assert desc["weights"] == "FakeNet_Weights.IMAGENET1K_V1"
    assert desc["weights_url"] == FakeNet_Weights.IMAGENET1K_V1.url


def test_torchvision_unknown_weights_lists_the_available_ones(fake_torchvision):
    with pytest.raises(ValueError, match="'weights'.*'V9'.*IMAGENET1K_V1"):
        load_model({"source": "torchvision", "name": "fakenet", "weights": "V9",
                    "layers": ["conv"]})


def test_torchvision_random_init_is_seeded(fake_torchvision):
    spec = {"source": "torchvision", "name": "fakenet", "layers": ["conv"], "image_size": 16,
            "kwargs": {"width": 5}}
    a = load_model({**spec, "seed": 1})
    b = load_model({**spec, "seed": 1})
    c = load_model({**spec, "seed": 2})
    assert fake_torchvision[-1] == ("fakenet", None, {"width": 5})
    assert torch.equal(a.module.conv.weight, b.module.conv.weight)
    assert not torch.equal(a.module.conv.weight, c.module.conv.weight)
    assert a.module.conv.out_channels == 5
    assert a.describe()["preprocessing"]["image_size"] == 16
    assert a.preprocess(_images(2)).args[0].shape == (2, 3, 16, 16)


# ----------------------------------------------------------------------------------- timm
@pytest.fixture
def fake_timm(monkeypatch):
    calls = []

    def create_model(model_name, pretrained=False, pretrained_cfg_overlay=None, **kwargs):
        calls.append((model_name, pretrained, pretrained_cfg_overlay, kwargs))
        model = TinyConvNet(**kwargs)
        if pretrained:
            model.load_state_dict(torch.load(pretrained_cfg_overlay["file"], weights_only=True))
        return model

    def resolve_data_config(args=None, pretrained_cfg=None, model=None, **kwargs):
        assert isinstance(model, nn.Module)
        return {"input_size": (3, 16, 16), "interpolation": "bilinear", "crop_pct": 0.8}

    def create_transform(input_size, interpolation="bilinear", crop_pct=None, **kwargs):
        assert input_size == (3, 16, 16) and crop_pct == 0.8
        return pil_transform

    timm = types.ModuleType("timm")
    data = types.ModuleType("timm.data")
    data.resolve_data_config, data.create_transform = resolve_data_config, create_transform
    timm.create_model, timm.data = create_model, data
    monkeypatch.setitem(sys.modules, "timm", timm)
    monkeypatch.setitem(sys.modules, "timm.data", data)
    return calls


def test_timm_loads_a_local_checkpoint_and_its_data_config(tmp_path, fake_timm):
    torch.manual_seed(3)
    saved = TinyConvNet()
    ckpt = tmp_path / "fakenet.pth"
    torch.save(saved.state_dict(), ckpt)
    images = _images()
    spec = {"source": "timm", "name": "fakenet", "weights": str(ckpt), "layers": ["fc"],
            "batch_size": 3}
    stored = _features(tmp_path, spec, _stimuli(image=images), "fc")
    assert fake_timm[-1] == ("fakenet", True, {"file": str(ckpt)}, {})
    assert_close_float32(stored, _direct(saved, images)["fc"].numpy())
    desc = load_model(spec).describe()
    assert desc["model"]["weights_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert desc["preprocessing"]["data_config"]["input_size"] == (3, 16, 16)


def test_timm_without_weights_is_not_pretrained(fake_timm):
    load_model({"source": "timm", "name": "fakenet", "layers": ["fc"]})
    assert fake_timm[-1][1:3] == (False, None)


# ------------------------------------------------------------------------------ open_clip
class FakeClip(nn.Module):
    def __init__(self):
        super().__init__()
        self.visual = TinyConvNet()
        self.token_embedding = nn.Embedding(50, 6)
        self.transformer = nn.Linear(6, 6)
        self.text_projection = nn.Linear(6, 3)

    def encode_image(self, x):
        return self.visual(x)

    def encode_text(self, tokens):
        h = self.transformer(self.token_embedding(tokens))
        m = (tokens != 0).float()[..., None]
        return self.text_projection((h * m).sum(1) / m.sum(1))


def fake_tokenize(texts, context_length=8):
    ids = torch.zeros(len(texts), context_length, dtype=torch.long)
    for i, text in enumerate(texts):
        words = text.split()[:context_length]
        ids[i, :len(words)] = torch.tensor([sum(map(ord, w)) % 49 + 1 for w in words])
    return ids


@pytest.fixture
def fake_open_clip(monkeypatch):
    torch.manual_seed(5)
    model = FakeClip()

    def create_model_and_transforms(model_name, pretrained=None, **kwargs):
        return model, pil_transform, pil_transform

    open_clip = types.ModuleType("open_clip")
    open_clip.create_model_and_transforms = create_model_and_transforms
    open_clip.get_tokenizer = lambda model_name: fake_tokenize
    monkeypatch.setitem(sys.modules, "open_clip", open_clip)
    return model


def test_open_clip_text_tower_token_mean_uses_the_padding_mask(tmp_path, fake_open_clip):
    texts = ["a cat on a mat", "dog", "three small red houses", "a b"]
    spec = {"source": "open_clip", "name": "fake", "input": "text", "layers": ["transformer"],
            "pooling": "token_mean", "batch_size": 3}
    stored = _features(tmp_path, spec, _stimuli(text=np.array(texts, dtype=object)),
                       "transformer")
    tokens = fake_tokenize(texts)
    with torch.no_grad():
        h = fake_open_clip.transformer(fake_open_clip.token_embedding(tokens))
    ref = np.stack([h[i, :len(t.split())].mean(0).numpy() for i, t in enumerate(texts)])
    assert_close_float32(stored, ref)


def test_open_clip_image_tower_runs_encode_image(tmp_path, fake_open_clip):
    images = _images(4)
    spec = {"source": "open_clip", "name": "fake", "input": "image", "layers": ["visual.fc"],
            "batch_size": 3}
    stored = _features(tmp_path, spec, _stimuli(image=images), "visual.fc")
    assert_close_float32(stored, _direct(fake_open_clip.visual, images)["fc"].numpy())


# ------------------------------------------------------------------------------- callable
FACTORY_MODULE = textwrap.dedent('''
    import torch
    from torch import nn

    class TextNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(20, 4)
            self.mix = nn.Linear(4, 4)

        def forward(self, input_ids, attention_mask):
            return self.mix(self.embed(input_ids)).sum(1)

    def make_conv(width=4):
        return nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1))

    def make_text():
        return TextNet()

    def tokenize(texts):
        ids = torch.zeros(len(texts), 5, dtype=torch.long)
        mask = torch.zeros(len(texts), 5, dtype=torch.long)
        for i, t in enumerate(texts):
            ids[i, :len(t)] = torch.tensor([ord(c) % 19 + 1 for c in t])
            mask[i, :len(t)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def not_a_module():
        return 3
''')


@pytest.fixture
def factory(tmp_path, monkeypatch):
    (tmp_path / "brainalign_test_factory.py").write_text(FACTORY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "brainalign_test_factory"
    sys.modules.pop("brainalign_test_factory", None)


def test_callable_image_model_with_default_preprocessing(tmp_path, factory):
    images = _images(5, 24)
    spec = {"source": "callable", "target": f"{factory}:make_conv", "kwargs": {"width": 6},
            "input": "image", "image_size": 24, "mean": [0.5] * 3, "std": [0.5] * 3,
            "layers": ["1"], "pooling": "spatial_mean", "seed": 4, "batch_size": 2}
    stored = _features(tmp_path, spec, _stimuli(image=images), "1")
    module = load_model(spec).module
    x = torch.tensor(images.transpose(0, 3, 1, 2) / 255 * 2 - 1, dtype=torch.float32)
    with torch.no_grad():
        ref = module[1](module[0](x)).mean(dim=(2, 3)).numpy()
    assert stored.shape == (5, 6)
    assert_close_float32(stored, ref)
    other = load_model({**spec, "seed": 5}).module
    assert not torch.equal(module[0].weight, other[0].weight)


def test_callable_text_model_passes_the_mask_from_preprocess(tmp_path, factory):
    texts = ["ab", "hello", "xyz", "q"]
    spec = {"source": "callable", "target": f"{factory}:make_text", "input": "text",
            "preprocess": f"{factory}:tokenize", "layers": ["mix"], "pooling": "last_token",
            "batch_size": 3}
    stored = _features(tmp_path, spec, _stimuli(text=np.array(texts, dtype=object)), "mix")
    module = load_model(spec).module
    enc = sys.modules[factory].tokenize(texts)
    with torch.no_grad():
        h = module.mix(module.embed(enc["input_ids"]))
    ref = np.stack([h[i, len(t) - 1].numpy() for i, t in enumerate(texts)])
    assert_close_float32(stored, ref)


def test_callable_errors_name_the_key(factory):
    base = {"source": "callable", "input": "image", "layers": ["x"]}
    with pytest.raises(TypeError, match="'target'.*not a torch.nn.Module"):
        load_model({**base, "target": f"{factory}:not_a_module"})
    with pytest.raises(ValueError, match="'target'.*cannot import module 'no_such_mod_xyz'"):
        load_model({**base, "target": "no_such_mod_xyz:f"})
    with pytest.raises(ValueError, match="'target'.*has no attribute 'missing'"):
        load_model({**base, "target": f"{factory}:missing"})
    with pytest.raises(ValueError, match="'preprocess' is required"):
        load_model({**base, "input": "text", "target": f"{factory}:make_text"})
