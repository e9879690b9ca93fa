"""The storage contract: chunks, provenance, atomic writes, and resumable streaming."""

import json

import numpy as np
import pytest
import xarray as xr
import zarr

from brainalign import store


def test_chunk_shape_caps_rows_and_sizes_units():
    # rows at most 1024; beside them, units at most UNIT_BLOCK (32 MiB / (4 bytes * 1024 rows)
    # would be 8192 units); without a row dimension, units filling 32 MiB
    assert store.chunk_shape(("stimulus", "unit"), (5000, 100_000), 4) == (1024, store.UNIT_BLOCK)
    assert store.chunk_shape(("trial", "unit"), (30_000, 4000), 4) == (1024, store.UNIT_BLOCK)
    assert store.chunk_shape(("trial", "unit"), (300, 50), 4) == (300, 50)  # small: one chunk
    assert store.chunk_shape(("layer", "fold", "unit"), (3, 4, 10**6), 4) == (3, 4, 699050)


def test_write_tree_roundtrip_with_provenance(tmp_path):
    ds = xr.Dataset({"betas": (("trial", "unit"), np.arange(6.0).reshape(3, 2))},
                    coords={"stimulus_id": ("trial", ["a", "b", "c"]), "run": ("trial", [1, 1, 2])})
    out = store.write_tree(tmp_path / "b.zarr", {"roi1": ds, "roi2": ds * 2}, stage="fmri",
                           params={"x": 1}, seed=7)
    tree = xr.open_datatree(out, engine="zarr")
    assert sorted(tree.children) == ["roi1", "roi2"]
    np.testing.assert_array_equal(tree["roi2"].betas.values, ds.betas.values * 2)
    assert tree["roi1"].stimulus_id.values.tolist() == ["a", "b", "c"]  # as a notebook opens it
    assert store.open_dataset(out, group="roi1").stimulus_id.values.dtype.kind == "U"
    prov = store.read_provenance(out)
    assert prov["stage"] == "fmri" and prov["params"] == {"x": 1} and prov["seed"] == 7
    assert set(store.PROVENANCE_KEYS) <= set(prov)


def test_content_hash_ignores_created_and_tracks_data(tmp_path):
    ds = xr.Dataset({"a": ("unit", np.arange(4.0))})
    p1 = store.write_dataset(tmp_path / "1.zarr", ds, stage="s", params={}, seed=0)
    p2 = store.write_dataset(tmp_path / "2.zarr", ds, stage="s", params={}, seed=0)
    meta = json.loads((p2 / "zarr.json").read_text())
    meta["attributes"]["created"] = "1999-01-01T00:00:00+00:00"
    (p2 / "zarr.json").write_text(json.dumps(meta))
    assert store.content_hash(p1) == store.content_hash(p2)
    (p2 / ".snakemake_timestamp").write_text("")  # Snakemake marks directory outputs so
    assert store.content_hash(p1) == store.content_hash(p2)
    p3 = store.write_dataset(tmp_path / "3.zarr", ds + 1, stage="s", params={}, seed=0)
    assert store.content_hash(p3) != store.content_hash(p1)


def test_failed_write_leaves_no_store_and_keeps_the_old_one(tmp_path):
    out = tmp_path / "x.zarr"
    store.write_dataset(out, xr.Dataset({"a": ("unit", [1.0])}), stage="s", params={}, seed=0)

    class Boom(xr.Dataset):
        __slots__ = ()

        def to_zarr(self, *args, **kwargs):
            super().to_zarr(*args, **kwargs)
            raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed"):
        store.write_dataset(out, Boom({"a": ("unit", [2.0])}), stage="s", params={}, seed=0)
    assert store.open_dataset(out).a.values.tolist() == [1.0]
    assert [p.name for p in tmp_path.iterdir()] == ["x.zarr"]


def test_streaming_store_resumes_to_identical_array(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((10, 7)).astype(np.float32)
    ids = [f"s{i}" for i in range(10)]

    def stream(path, stop_after=None):
        with store.StreamingStore(path, stage="features", params={"p": 1}, n_rows=10, seed=0) as s:
            s.create("layer", "features", ("stimulus", "unit"), data.shape, "float32",
                     coords={"stimulus_id": ("stimulus", ids)})
            for start in range(s.rows_done, 10, 3):
                if stop_after is not None and start >= stop_after:
                    raise KeyboardInterrupt
                s.write_rows("layer", "features", start, data[start:start + 3])
                s.commit_rows(min(start + 3, 10))
            return s.finish()

    with pytest.raises(KeyboardInterrupt):
        stream(tmp_path / "f.zarr", stop_after=6)
    assert not (tmp_path / "f.zarr").exists()
    assert zarr.open_group(str(tmp_path / "f.zarr.partial")).attrs["rows_done"] == 6
    out = stream(tmp_path / "f.zarr")
    np.testing.assert_array_equal(store.open_dataset(out, group="layer").features.values, data)
    assert "rows_done" not in store.read_provenance(out)


def test_streaming_store_discards_partial_with_other_params(tmp_path):
    with store.StreamingStore(tmp_path / "f.zarr", stage="f", params={"p": 1}, n_rows=4) as s:
        s.create(None, "x", ("stimulus",), (4,), "float32")
        s.write_rows(None, "x", 0, np.ones(2, np.float32))
        s.commit_rows(2)
    again = store.StreamingStore(tmp_path / "f.zarr", stage="f", params={"p": 2}, n_rows=4)
    assert again.rows_done == 0
    with pytest.raises(RuntimeError, match="0 of 4 rows"):
        again.finish()


def test_open_missing_store_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.zarr"):
        store.open_dataset(tmp_path / "nothing.zarr")


def test_store_nbytes_is_the_uncompressed_size_of_every_array(tmp_path):
    betas = np.zeros((30, 1000), dtype=np.float32)  # compresses to almost nothing on disk
    ds = xr.Dataset({"betas": (("trial", "unit"), betas)}, coords={"run": ("trial", np.arange(30))})
    out = store.write_tree(tmp_path / "b.zarr", {"roi1": ds, "roi2": ds.isel(unit=slice(0, 10))},
                           stage="fmri", params={}, seed=0)
    expected = betas.nbytes + betas[:, :10].nbytes + 2 * np.arange(30).nbytes
    assert store.store_nbytes(out) == expected
    assert sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) < expected / 10
    with pytest.raises(FileNotFoundError, match="nowhere.zarr"):
        store.store_nbytes(tmp_path / "nowhere.zarr")
