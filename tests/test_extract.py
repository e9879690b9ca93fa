"""Feature extraction: stored features, layer selection, resumption, attributes and errors."""

from __future__ import annotations


import numpy as np
import pytest
import torch
import xarray as xr
import zarr
from torch import nn

from brainalign.models import extract_features, list_layers, load_model
from brainalign.models.layers import LayerRecorder, select_layers
from brainalign.models.runtime import stimulus_rows
from brainalign.models.writer import block_rows
from brainalign.store import group_names, open_dataset, open_tree, write_dataset
from tolerance import assert_close_float32

SMALL_CNN = {"source": "builtin", "name": "small_cnn", "seed": 3,
             "layers": ["conv1", "conv2", "conv3", "fc"], "batch_size": 5}


@pytest.fixture
def stimuli(tmp_path):
    """13 random 32x32 images in a stimulus store, opened lazily as the CLI does."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (13, 32, 32, 3), dtype=np.uint8)
    ds = xr.Dataset({"image": (("stimulus", "y", "x", "channel"), images)},
                    coords={"stimulus_id": ("stimulus", [f"img{i:02d}" for i in range(13)])})
    path = write_dataset(tmp_path / "stimuli.zarr", ds, stage="stimuli", params={})
    return open_dataset(path)


def _direct_outputs(spec, images, layers):
    """Each layer's output for all images in one unbatched forward pass."""
    model = load_model(spec)
    outputs = {}
    modules = dict(model.module.named_modules())
    hooks = [modules[n].register_forward_hook(
        lambda m, i, o, n=n: outputs.__setitem__(n, o)) for n in layers]
    with torch.no_grad():
        model.forward(model.preprocess(images))
    for h in hooks:
        h.remove()
    return outputs


def _extract(spec, stimuli, path, **kw):
    return extract_features(spec, stimuli, path, params={"model": spec}, inputs=[], seed=0, **kw)


def test_stored_features_equal_a_single_unbatched_pass(tmp_path, stimuli):
    path = _extract(SMALL_CNN, stimuli, tmp_path / "f.zarr")
    direct = _direct_outputs(SMALL_CNN, stimuli.image.values, SMALL_CNN["layers"])
    assert group_names(path) == sorted(SMALL_CNN["layers"])
    for layer in SMALL_CNN["layers"]:
        ds = open_dataset(path, group=layer)
        ref = direct[layer].reshape(13, -1).numpy()
        assert ds.features.dims == ("stimulus", "unit") and ds.features.dtype == np.float32
        assert list(ds.stimulus_id.values) == list(stimuli.stimulus_id.values)
        assert_close_float32(ds.features.values, ref)


def test_glob_selection_and_spatial_mean_on_resnet(tmp_path, stimuli, shared_data):
    (weights,) = (shared_data / "resnet_cifar10").glob("resnet20-*.th")
    spec = {"source": "cifar_resnet", "depth": 20, "weights": str(weights),
            "layers": ["layer*.conv2", "linear"],
            "pooling": {"layer*": "spatial_mean", "linear": "none"}, "batch_size": 8}
    path = _extract(spec, stimuli, tmp_path / "f.zarr")
    blocks = [f"layer{s}.{b}.conv2" for s in (1, 2, 3) for b in range(3)]
    assert group_names(path) == sorted([*blocks, "linear"])
    direct = _direct_outputs(spec, stimuli.image.values, blocks)
    for layer in blocks:
        assert_close_float32(open_dataset(path, group=layer).features.values, direct[layer].mean(dim=(2, 3)).numpy())
    assert open_dataset(path, group="layer3.2.conv2").attrs["output_shape"] == [64, 8, 8]


def test_select_layers_keeps_model_order_without_repeats():
    module = load_model(SMALL_CNN).module
    assert select_layers(module, ["fc", "conv?", "conv1"]) == ["conv1", "conv2", "conv3", "fc"]
    assert select_layers(module, ["conv1.*"]) == ["conv1.0", "conv1.1", "conv1.2"]


def test_unknown_layer_lists_the_available_names(tmp_path, stimuli):
    with pytest.raises(ValueError, match="'layers': 'conv9' matches no layer.*conv1, conv1.0"):
        _extract({**SMALL_CNN, "layers": ["conv9"]}, stimuli, tmp_path / "f.zarr")


def test_cls_on_a_conv_map_is_an_error(tmp_path, stimuli):
    spec = {**SMALL_CNN, "layers": ["conv2"], "pooling": "cls"}
    with pytest.raises(ValueError, match=r"pooling 'cls' for layer 'conv2'.*\(5, 32, 8, 8\)"):
        _extract(spec, stimuli, tmp_path / "f.zarr")
    assert not (tmp_path / "f.zarr").exists()


def test_a_missing_stimulus_variable_is_named(stimuli):
    with pytest.raises(ValueError, match="input 'text'.*\\['image'\\]"):
        stimulus_rows(stimuli, "text", slice(0, 2))


@pytest.mark.parametrize("reduce", [None, {"method": "srp", "n_components": 20},
                                    {"method": "pca", "n_components": 4, "fit_on": 9}])
def test_killed_extraction_resumes_to_the_same_array(tmp_path, stimuli, reduce):
    spec = {**SMALL_CNN, "batch_size": 3, **({"reduce": reduce} if reduce else {})}
    whole = _extract(spec, stimuli, tmp_path / "whole.zarr")

    def kill_after_two_batches(rows_done):
        if rows_done == 6:
            raise KeyboardInterrupt("killed")

    # block_bytes=0: every batch is a block and is committed, so the kill leaves 6 rows
    with pytest.raises(KeyboardInterrupt):
        _extract(spec, stimuli, tmp_path / "resumed.zarr", block_bytes=0,
                 on_commit=kill_after_two_batches)
    assert not (tmp_path / "resumed.zarr").exists()
    seen = []
    resumed = _extract(spec, stimuli, tmp_path / "resumed.zarr", block_bytes=0,
                       on_commit=seen.append)
    assert seen == [9, 12, 13]  # it went on from row 6
    for layer in SMALL_CNN["layers"]:
        a = open_dataset(whole, group=layer).features.values
        b = open_dataset(resumed, group=layer).features.values
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def _row_chunk(path, layer):
    return zarr.open_group(str(path), mode="r")[layer]["features"].chunks[0]


def test_rows_are_committed_at_row_chunk_boundaries(tmp_path, stimuli, monkeypatch):
    spec = {**SMALL_CNN, "batch_size": 3}
    seen = []
    whole = _extract(spec, stimuli, tmp_path / "a.zarr", on_commit=seen.append)
    assert seen == [13]  # the store's row chunk is all 13 rows: one write per array
    monkeypatch.setattr("brainalign.models.writer.MAX_ROW_CHUNK", 7)
    seen.clear()
    chunked = _extract(spec, stimuli, tmp_path / "b.zarr", on_commit=seen.append)
    assert seen == [6, 12, 13]  # blocks of two whole batches (6 of at most 7 rows)
    seen.clear()
    tiny_block = _extract(spec, stimuli, tmp_path / "c.zarr", on_commit=seen.append,
                          block_bytes=1)
    assert seen == [3, 6, 9, 12, 13]  # a block holds one batch at least
    monkeypatch.setattr("brainalign.models.writer.MAX_ROW_CHUNK", 2)
    seen.clear()
    split = _extract(spec, stimuli, tmp_path / "d.zarr", on_commit=seen.append)
    assert seen == [3, 6, 9, 12, 13]  # 2-row blocks split batches; commits land on batch ends
    stores = (whole, chunked, tiny_block, split)
    for layer in SMALL_CNN["layers"]:
        assert [_row_chunk(p, layer) for p in stores] == [13, 6, 3, 2]
        a = open_dataset(whole, group=layer).features.values
        for other in stores[1:]:
            np.testing.assert_array_equal(a, open_dataset(other, group=layer).features.values)


@pytest.mark.parametrize(("n", "batch", "row_bytes", "block_bytes", "expected"), [
    (13, 3, 100, 10**6, 13),            # everything fits: one block
    (5000, 64, 49152, 16 * 2**20, 320),  # ResNet-20 layer3 flattened: 5 batches of 64
    (5000, 64, 4, 16 * 2**20, 1024),     # narrow rows: the 1024-row cap
    (5000, 64, 49152, 0, 64),            # a block holds one batch at least
    (5000, 2000, 4, 10**9, 1024),        # a batch larger than a chunk: 1024-row blocks
])
def test_block_rows(n, batch, row_bytes, block_bytes, expected):
    assert block_rows(n, batch, row_bytes, block_bytes) == expected


def test_store_attributes_record_model_preprocessing_and_layers(tmp_path, stimuli):
    spec = {**SMALL_CNN, "pooling": {"conv*": "spatial_mean", "fc": "none"}}
    path = _extract(spec, stimuli, tmp_path / "f.zarr")
    tree = open_tree(path)
    attrs = tree.attrs
    assert attrs["stage"] == "features" and attrs["params"] == {"model": spec}
    assert attrs["model"] == {"source": "builtin", "name": "small_cnn", "seed": 3,
                              "image_size": 32}
    assert attrs["preprocessing"]["mean"] == [0.5, 0.5, 0.5]
    assert attrs["input"] == "image" and attrs["layers"] == spec["layers"]
    assert attrs["device"] == "cpu" and attrs["precision"] == "float32"
    conv2 = tree["conv2"].attrs
    assert conv2["output_shape"] == [32, 8, 8] and conv2["pooling"] == "spatial_mean"
    assert conv2["n_units_pooled"] == 32 and conv2["reduction"] is None
    assert tree["fc"].attrs["pooling"] == "none"


def test_list_layers_gives_shapes_of_one_real_batch(stimuli):
    layers = list_layers(SMALL_CNN, stimuli)
    assert layers == [("conv1", (5, 16, 16, 16)), ("conv1.0", (5, 16, 32, 32)),
                      ("conv1.1", (5, 16, 32, 32)), ("conv1.2", (5, 16, 16, 16)),
                      ("conv2", (5, 32, 8, 8)), ("conv2.0", (5, 32, 16, 16)),
                      ("conv2.1", (5, 32, 16, 16)), ("conv2.2", (5, 32, 8, 8)),
                      ("conv3", (5, 64, 4, 4)), ("conv3.0", (5, 64, 8, 8)),
                      ("conv3.1", (5, 64, 8, 8)), ("conv3.2", (5, 64, 4, 4)),
                      ("flatten", (5, 1024)), ("fc", (5, 10))]


def test_bf16_autocast_is_close_to_float32(tmp_path, stimuli):
    spec = {**SMALL_CNN, "layers": ["conv3"], "pooling": "spatial_mean"}
    exact = _extract(spec, stimuli, tmp_path / "a.zarr")
    half = _extract({**spec, "precision": "bf16"}, stimuli, tmp_path / "b.zarr")
    a = open_dataset(exact, group="conv3").features.values
    b = open_dataset(half, group="conv3").features.values
    assert b.dtype == np.float32 and not np.array_equal(a, b)
    np.testing.assert_allclose(b, a, rtol=0.05, atol=0.05 * np.abs(a).max())


def test_a_layer_called_twice_per_forward_is_an_error():
    class SharedRelu(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(self.lin(self.act(x)))

    module = SharedRelu()
    with LayerRecorder(module, ["act", "lin"]) as recorder:
        module(torch.ones(2, 3))
        with pytest.raises(ValueError, match="exactly once.*'act': 2"):
            recorder.take()
