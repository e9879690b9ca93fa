"""What a reader of the figures needs, on small hand-made stores (no Snakemake run): named RDM
axes, an interval for a one-layer model, a note in every empty panel, one colour or y range per
metric across the panels that compare, and a brain map over an anatomical underlay whose title
and colour bar stay inside the figure and off the slices."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from matplotlib.container import ErrorbarContainer

from brainalign.figures import brain_map, model_similarity, rdms, score_by_layer


def capture(monkeypatch, module) -> list:
    """Keep the figures ``module`` would save (and close) instead of writing them."""
    figures = []
    monkeypatch.setattr(module, "save", lambda fig, path: figures.append(fig))
    return figures


def _scores() -> xr.Dataset:
    """Two subjects; encoding in ROIs a and b, RSA in a only (b skipped); models deep (3 layers)
    and flat (1 layer)."""
    rows = [(s, roi, model, index, f"L{index}", method, metric)
            for s in ("01", "02") for method, metric, rois in (("encoding", "pearson_r", "ab"), ("rsa", "spearman", "a"))
            for roi in rois for model, n in (("deep", 3), ("flat", 1)) for index in range(n)]
    labels = dict(zip(["subject", "roi", "model", "layer_index", "layer", "method", "metric"], zip(*rows)))
    rng = np.random.default_rng(0)
    score = rng.uniform(0.1, 0.6, len(rows)) * np.where(np.array(labels["method"]) == "rsa", 1.0, 0.3)
    boots = score[:, None] + rng.normal(0, 0.05, (len(rows), 40))
    return xr.Dataset(
        {"score": ("entry", score), "ci_low": ("entry", score - 0.1), "ci_high": ("entry", score + 0.1),
         "ceiling": ("entry", np.full(len(rows), 0.8)), "ceiling_low": ("entry", np.full(len(rows), np.nan)),
         "vs_best_low": ("entry", np.full(len(rows), 0.01)), "score_bootstrap": (("entry", "bootstrap"), boots)},
        coords={"dataset": ("entry", ["d"] * len(rows)), "n": ("entry", [10] * len(rows)),
                **{k: ("entry", list(v)) for k, v in labels.items()}},
        attrs={"skipped_rois": {"d": {"b": "2 voxel(s): the correlation distance needs at least 3"}}})


def test_score_by_layer_one_layer_interval_empty_note_and_shared_y(monkeypatch, tmp_path):
    figures = capture(monkeypatch, score_by_layer)
    scores = _scores()
    curves = score_by_layer.plot_score_by_layer(scores, tmp_path / "f.png")
    fig = figures[0]
    panels = {ax.get_title().split("\n")[0]: ax for ax in fig.axes if ax.get_title()}
    assert set(panels) == {"ROI a, encoding", "ROI b, encoding", "ROI a, rsa"}
    # the one-layer model: an error bar from ci_low to ci_high of the subject mean
    for name, ax in panels.items():
        bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert len(bars) == 1, name
        flat = curves[(curves.model == "flat") & (curves.roi + ", " + curves.method == name.removeprefix("ROI "))]
        segment = bars[0].lines[2][0].get_segments()[0]
        np.testing.assert_allclose(segment[:, 1], [flat.ci_low.iloc[0], flat.ci_high.iloc[0]])
    # the empty RSA panel of ROI b says why, with the reason the RSA stage recorded
    notes = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("ROI skipped by RSA" in t and "2 voxel(s)" in t and t.startswith("ROI b, rsa") for t in notes)
    # encoding panels share one y range; RSA has its own
    assert panels["ROI a, encoding"].get_ylim() == panels["ROI b, encoding"].get_ylim()
    assert panels["ROI a, encoding"].get_ylim() != panels["ROI a, rsa"].get_ylim()
    plt.close(fig)


def test_similarity_matrices_share_one_colour_range_per_metric(monkeypatch, tmp_path):
    figures = capture(monkeypatch, model_similarity)
    rng = np.random.default_rng(1)
    stores = {}
    for name, scale in (("one", 1.0), ("two", 0.3)):
        matrix = rng.uniform(0, scale, (2, 3, 3))
        labels = {f"{side}_{k}": (side, v) for side in ("source", "target")
                  for k, v in (("model", ["m", "m", "n"]), ("layer", ["a", "b", "c"]))}
        stores[name] = xr.Dataset({"similarity": (("metric", "source", "target"), matrix)},
                                  coords={"metric": ["cka_linear", "procrustes"],
                                          "kind": ("metric", ["similarity", "distance"]), **labels})
    model_similarity.plot_similarity_matrices(stores, tmp_path / "m.png")
    images = [ax.images[0] for ax in figures[0].axes if ax.images]
    assert len(images) == 4
    for metric in (0, 1):
        low = min(stores[s].similarity.values[metric].min() for s in stores)
        high = max(stores[s].similarity.values[metric].max() for s in stores)
        assert images[metric].get_clim() == images[2 + metric].get_clim() == pytest.approx((low, high))
    plt.close(figures[0])


def test_rdm_axes_name_stimuli_groups_and_skipped_rois(monkeypatch, tmp_path):
    # no categories: ids, every k-th when there are more than MAX_LABELS
    many = xr.Dataset(coords={"stimulus_id": ("stimulus", [f"img{i:03d}" for i in range(100)])})
    edges, ticks, names = rdms.axis_labels(many, many.stimulus_id.values, [])
    assert names[:2] == ["img000", "img003"] and len(names) == 34 and len(ticks) == len(names) and not len(edges)
    # an image folder's categories: one name per group, centred on it
    ids = np.array([f"s{i}" for i in range(12)])
    folder = xr.Dataset(coords={"stimulus_id": ("stimulus", ids),
                                "category": ("stimulus", ["cat"] * 4 + ["dog"] * 4 + ["car"] * 4)})
    order, attrs = rdms.category_order(folder)
    assert attrs == ["category"]
    edges, ticks, names = rdms.axis_labels(folder, order, attrs)
    assert names == ["cat", "dog", "car"] and list(ticks) == [1.5, 5.5, 9.5] and list(edges) == [3.5, 7.5]
    # the whole figure: named axes on an 8-stimulus set (Haxby), and the skipped ROI in the title
    rng = np.random.default_rng(2)
    n, pairs = 8, 28
    words = xr.Dataset(coords={"stimulus_id": ("stimulus", ["bottle", "cat", "chair", "face", "house", "scissors",
                                                            "scrambledpix", "shoe"])})
    i, j = np.triu_indices(n, 1)
    rsa = [xr.Dataset({"score": (("roi", "layer"), [[0.3]]), "brain_rdm": (("roi", "pair"), rng.random((1, pairs))),
                       "model_rdm": (("layer", "pair"), rng.random((1, pairs)))},
                      coords={"roi": ["brain"], "layer": ["l0"], "stimulus_id": ("stimulus", words.stimulus_id.values),
                              "pair_i": ("pair", i), "pair_j": ("pair", j)},
                      attrs={"subject": "001", "model": "m", "comparator": "spearman",
                             "skipped_rois": {"vt": "1 voxel(s): the correlation distance needs at least 3"}})]
    figures = capture(monkeypatch, rdms)
    rdms.plot_rdms(rsa, words, tmp_path / "r.png", dataset="haxby")
    fig = figures[0]
    first = fig.axes[0]
    assert [t.get_text() for t in first.get_yticklabels()] == list(words.stimulus_id.values)
    assert [t.get_text() for t in first.get_xticklabels()] == list(words.stimulus_id.values)
    assert "ROI vt skipped by RSA: 1 voxel(s)" in fig._suptitle.get_text()
    plt.close(fig)


def _brain_stores():
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    affine[:3, 3] = -9.0
    ijk = np.array([[i, j, k] for i in range(2, 5) for j in range(2, 5) for k in (2, 3)])
    r = np.random.default_rng(3).uniform(-0.2, 0.8, (2, 1, len(ijk)))
    roi = xr.Dataset({"r": (("layer", "fold", "unit"), r)},
                     coords={"layer": ["l0", "l1"], **{c: ("unit", ijk[:, d]) for d, c in enumerate("ijk")}})
    encoding = xr.DataTree.from_dict({"/": xr.Dataset(attrs={"model": "m"}), "/cube": roi})
    mean = np.random.default_rng(4).uniform(500, 1000, (7, 7, 7)).astype(np.float32)
    brain = xr.DataTree(xr.Dataset({"mean_image": (("grid_i", "grid_j", "grid_k"), mean)},
                                   attrs={"affine": affine.tolist(), "grid_shape": [7, 7, 7], "subject": "01"}))
    return {"01": [encoding]}, {"01": brain}


def test_brain_map_underlay_title_and_colour_bar_stay_clear(monkeypatch, tmp_path):
    figures = capture(monkeypatch, brain_map)
    encoding, brain = _brain_stores()
    assert brain_map.underlay(brain["01"], mni_space=False).shape == (7, 7, 7)
    brain_map.plot_brain_map(encoding, brain, tmp_path / "b.png", mni_space=False, dataset="d")
    fig = figures[0]
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    whole = fig.bbox
    title = fig._suptitle.get_window_extent(renderer)
    assert whole.x0 <= title.x0 and title.x1 <= whole.x1 and whole.y0 <= title.y0 and title.y1 <= whole.y1
    assert "underlay: the subject's mean EPI" in fig._suptitle.get_text()
    bar = next(ax for ax in fig.axes if ax.get_ylabel() == "Pearson r, held-out runs")
    slices = [ax for ax in fig.axes if ax is not bar and ax.get_images()]
    assert len(slices) == 2  # z = -3 and 0 mm
    for ax in slices:
        assert len(ax.get_images()) == 2  # the underlay under the map
        box = ax.get_window_extent(renderer)
        assert not box.overlaps(bar.get_window_extent(renderer))
        assert not box.overlaps(title) and box.y1 <= title.y0
        for text in ax.texts + [ax.title]:
            extent = text.get_window_extent(renderer)
            assert whole.contains(extent.x0, extent.y0) and whole.contains(extent.x1, extent.y1)
    plt.close(fig)
