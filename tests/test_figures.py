"""Figures and the summary's noise ceilings of the test-size study (the session fixture ``study``).

Every figure the plan lists is a real PNG of a readable size; what each figure draws is checked
against numbers computed here from the stores by other routes (pandas over ``summary.csv``, numpy
over the brain store's betas, scipy), and the ceilings against their formulas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from scipy.stats import rankdata, spearmanr

from brainalign import store
from brainalign.figures import brain_map, model_similarity, rdms, score_by_layer
from brainalign.plan import StudyPlan
from study_runner import TEST_CONFIG, snakemake

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def summary(study):
    return pd.read_csv(study / "summary.csv", dtype={"subject": str})


def capture(monkeypatch, module) -> list:
    """Keep the figures ``module`` would save (and close) instead of writing them."""
    figures = []
    monkeypatch.setattr(module, "save", lambda fig, path: figures.append(fig))
    return figures


def test_every_figure_is_a_png_of_readable_size(study):
    config = {**yaml.safe_load(TEST_CONFIG.read_text()), "results_dir": str(study)}
    figures = StudyPlan(config).figures()
    assert {f.rsplit("/", 1)[1] for f in figures} == {
        "score_by_layer.png", "rdms_sim.png", "brain_map_sim.png", "model_similarity.png",
        "similarity_consistency.png"}
    for path in figures:
        with Image.open(path) as img:
            assert img.format == "PNG"
            width, height = img.size
            colours = len(np.unique(np.asarray(img.convert("RGB").resize((200, 200))).reshape(-1, 3), axis=0))
        assert 700 <= width <= 2600 and 400 <= height <= 2000, (path, img.size)
        assert colours > 50, f"{path} is nearly blank ({colours} colours)"


def test_score_by_layer_draws_the_subject_means_and_ceilings(study, summary, monkeypatch, tmp_path):
    figures = capture(monkeypatch, score_by_layer)
    score_by_layer.plot_score_by_layer(store.open_dataset(study / "scores.zarr"), tmp_path / "f.png")
    fig = figures[0]
    data = summary[summary.metric != "r2"]
    means = data.groupby(["method", "roi", "model", "layer_index"]).score.mean()
    ceilings = data.groupby(["method", "roi"]).ceiling.mean()
    checked = 0
    for ax in fig.axes:
        roi, method = ax.get_title().split("\n")[0].removeprefix("ROI ").split(", ")
        curves = [line for line in ax.get_lines() if line.get_marker() == "o"]
        assert len(curves) == 4  # one per model
        for line in curves:
            model = [m for m in ("cnn", "resnet20", "mlp", "minilm")
                     if np.allclose(line.get_ydata(), means[method, roi, m].to_numpy())]
            assert len(model) == 1
            checked += 1
        dashed = [line.get_ydata()[0] for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert dashed == pytest.approx([ceilings[method, roi]])
    assert checked == 2 * 3 * 4


def test_score_by_layer_band_is_the_bootstrap_interval_of_the_subject_mean(study):
    scores = store.open_dataset(study / "scores.zarr").load()
    curves = score_by_layer.layer_curves(scores)
    row = curves[(curves.method == "rsa") & (curves.roi == "object") & (curves.model == "resnet20")
                 & (curves.layer == "layer3")].iloc[0]
    pick = ((scores.method == "rsa") & (scores.roi == "object") & (scores.model == "resnet20")
            & (scores.layer == "layer3")).values
    boot = scores.score_bootstrap.values[pick]
    boot = boot[:, np.isfinite(boot).all(0)]
    assert boot.shape == (2, 50)  # subjects x the RSA stage's samples
    assert (row.ci_low, row.ci_high) == pytest.approx(tuple(np.percentile(boot.mean(0), [2.5, 97.5])))
    assert row.ci_low < row.score < row.ci_high


def test_summary_has_one_ceiling_per_subject_and_roi(study, summary):
    assert {"ceiling", "ceiling_low"} <= set(summary.columns)
    assert summary.ceiling.notna().all()
    per_roi = summary.groupby(["subject", "roi", "method", "metric"]).ceiling.nunique()
    assert (per_roi == 1).all()
    enc = summary[summary.metric == "pearson_r"]
    assert (enc.score < enc.ceiling).all()  # no layer beats the noise-free signal
    assert summary[summary.method == "encoding"].ceiling_low.isna().all()


def test_encoding_ceiling_is_the_voxels_ncsnr_formula(study, summary):
    """NC_v = 100 ncsnr^2 / (ncsnr^2 + 1) from betas z-scored per run (computed here with numpy);
    the summary's ceilings are mean sqrt(NC / 100) (Pearson r) and mean NC / 100 (R²)."""
    ds = store.open_dataset(study / "brain" / "sim" / "sub-02.zarr", group="object").load()
    z = ds.betas.values.astype(np.float64).copy()
    runs, ids = ds.run.values.astype(str), ds.stimulus_id.values.astype(str)
    for run in np.unique(runs):
        z[runs == run] = (z[runs == run] - z[runs == run].mean(0)) / z[runs == run].std(0)
    noise = np.mean([z[ids == s].var(0, ddof=1) for s in np.unique(ids)], axis=0)
    snr2 = np.maximum(0, 1 - noise) / noise
    nc = 100 * snr2 / (snr2 + 1)
    np.testing.assert_allclose(ds.noise_ceiling.values, nc, rtol=1e-4, atol=1e-4)
    rows = summary[(summary.subject == "02") & (summary.roi == "object") & (summary.method == "encoding")]
    assert rows[rows.metric == "pearson_r"].ceiling.iloc[0] == pytest.approx(np.sqrt(nc / 100).mean(), rel=1e-4)
    assert rows[rows.metric == "r2"].ceiling.iloc[0] == pytest.approx((nc / 100).mean(), rel=1e-4)


def test_rsa_ceilings_are_the_subjects_correlations_with_the_pooled_rdm(study, summary):
    """Upper: Spearman of a subject's RDM with the mean rank RDM of both subjects; lower: with the
    other subject's RDM (scipy on stimulus-sorted square RDMs)."""
    from brainalign.results import square_rdms

    vectors = {}
    for sub in ("01", "02"):
        rdm = square_rdms(store.open_dataset(study / "rsa" / "sim" / f"sub-{sub}" / "cnn.zarr"), "brain_rdm")
        ids = sorted(rdm.stimulus_id.values)
        m = rdm.sel(roi="visual", stimulus_id=ids, other=ids).values
        vectors[sub] = m[np.triu_indices(len(ids), k=1)]
    pooled = (rankdata(vectors["01"]) + rankdata(vectors["02"])) / 2
    row = summary[(summary.subject == "01") & (summary.roi == "visual") & (summary.method == "rsa")].iloc[0]
    assert row.ceiling == pytest.approx(spearmanr(vectors["01"], pooled).statistic, abs=1e-6)
    assert row.ceiling_low == pytest.approx(spearmanr(vectors["01"], vectors["02"]).statistic, abs=1e-6)


def test_rdm_figure_draws_the_brain_rdms_by_category(study, monkeypatch, tmp_path):
    """The ROI panel is the mean over subjects of 1 - r between stimulus-averaged betas (numpy,
    from the brain stores), stimuli grouped by shape."""
    figures = capture(monkeypatch, rdms)
    paths = sorted((study / "rsa" / "sim").glob("sub-*/*.zarr"))
    stimuli = store.open_dataset(study / "stimuli" / "shapes.zarr")
    drawn = rdms.plot_rdms([store.open_dataset(p) for p in paths], stimuli, tmp_path / "f.png")
    order, attrs = rdms.category_order(stimuli)
    assert attrs[0] == "shape" and len(order) == 48
    expected = []
    for sub in ("01", "02"):
        ds = store.open_dataset(study / "brain" / "sim" / f"sub-{sub}.zarr", group="language").load()
        ids = ds.stimulus_id.values.astype(str)
        means = np.stack([ds.betas.values[ids == s].mean(0) for s in order])
        expected.append(1 - np.corrcoef(means))
    np.testing.assert_allclose(drawn["language", "brain"], np.mean(expected, axis=0), atol=1e-5)
    fig = figures[0]
    first = fig.axes[0]
    assert [t.get_text() for t in first.get_yticklabels()] == ["square", "circle", "triangle", "cross"]
    np.testing.assert_allclose(first.images[0].get_array(), rdms.percentile(drawn[first.get_title().split(
        "\n")[0].removeprefix("ROI "), "brain"]))
    assert len(fig.axes) == 3 * 5 + 1  # ROIs x (brain + 4 models), colour bar


def test_brain_map_puts_each_voxels_score_at_its_voxel(study, summary):
    """Each voxel of the image holds the mean over folds of r of its ROI's best layer, the best
    layer taken from summary.csv."""
    tree = store.open_tree(study / "brain" / "sim" / "sub-01.zarr")
    encoding = [store.open_tree(p) for p in sorted((study / "encoding" / "sim" / "sub-01").glob("*.zarr"))]
    maps = brain_map.best_layer_maps(encoding)
    image = brain_map.voxel_image(maps, tree.attrs["affine"], tree.attrs["grid_shape"])
    data = np.asarray(image.dataobj)
    best = (summary[(summary.subject == "01") & (summary.metric == "pearson_r")]
            .sort_values("score").groupby("roi").tail(1).set_index("roi"))
    for roi in ("visual", "object", "language"):
        ds = store.open_dataset(study / "encoding" / "sim" / "sub-01" / f"{best.model[roi]}.zarr", group=roi)
        r = ds.r.sel(layer=best.layer[roi]).mean("fold")
        xyz = np.c_[ds.x.values, ds.y.values, ds.z.values, np.ones(ds.sizes["unit"])]
        ijk = np.rint(xyz @ np.linalg.inv(image.affine).T)[:, :3].astype(int)  # from mm, not from i, j, k
        np.testing.assert_allclose(data[tuple(ijk.T)], r.values, rtol=1e-6)
    assert (data != 0).sum() == 3 * 125


def test_similarity_figures_draw_the_stores_and_their_spearman_consistency(study, monkeypatch, tmp_path):
    figures = capture(monkeypatch, model_similarity)
    sims = {s: store.open_dataset(study / "similarity" / f"{s}.zarr") for s in ("shapes", "yellow_shapes")}
    drawn = model_similarity.plot_similarity_matrices(sims, tmp_path / "m.png")
    assert len(drawn) == 2 * 4
    np.testing.assert_array_equal(drawn["yellow_shapes", "procrustes"],
                                  sims["yellow_shapes"].similarity.sel(metric="procrustes").values)
    # what the panel shows (row: stimulus set, column: metric), against the store
    metrics = list(sims["shapes"].metric.values.astype(str))
    panels = [ax for ax in figures[0].axes if ax.images]
    shown = panels[len(metrics) + metrics.index("procrustes")].images[0].get_array()
    np.testing.assert_array_equal(shown, sims["yellow_shapes"].similarity.sel(metric="procrustes").values)
    rho = model_similarity.plot_consistency(sims, tmp_path / "c.png")
    a, b = (sims[s].similarity.sel(metric="cka_linear").values for s in ("shapes", "yellow_shapes"))
    upper = np.triu_indices(12, k=1)
    assert rho["shapes", "yellow_shapes", "cka_linear"] == pytest.approx(spearmanr(a[upper], b[upper]).statistic)


def test_consistency_needs_two_stimulus_sets(study, tmp_path):
    with pytest.raises(ValueError, match="at least two similarity stores"):
        model_similarity.plot_consistency({"shapes": store.open_dataset(study / "similarity" / "shapes.zarr")},
                                          tmp_path / "c.png")


def test_report_is_one_self_contained_page_with_every_figure_table_and_the_config(study, tmp_path):
    report = tmp_path / "report.html"
    snakemake("--report", str(report), results=study)
    html = report.read_text()
    figures = [study / "figures" / f for f in ("score_by_layer.png", "rdms_sim.png", "brain_map_sim.png",
                                               "model_similarity.png", "similarity_consistency.png")]
    tables = [study / f for f in ("summary.html", "summary.csv", "recovery.csv", "meg_summary.csv", "meg_recovery.csv",
                                  "meg_timecourse.csv")]
    for path in figures + tables:
        assert f'"{path}"' in html, f"{path.name} is not in the report"
    assert "resolved configuration" in html and "yellow_shapes" in html  # the config, rendered
    assert "NCSNR noise ceiling" in html  # a caption
    assert 'src="http' not in html  # everything inline
