"""Stage ``probe_compare``: model-model similarity across stimulus sets and against model behaviour.

Each model is represented by its last layer (network order) in the similarity stores (one per
stimulus set) and the probe stores (one per labelled set x model). Written under ``out``
(:mod:`brainalign.metrics.similarity_sets`, :mod:`brainalign.metrics.alignment_fewshot`):

* ``consistency.csv``: per metric and pair of stimulus sets, the correlation (``method``, default
  Pearson) over the model pairs of the two sets' similarities, over the models both sets share
  (NaN under 3); the diagonal is 1;
* ``tag_consistency.csv``: per metric, tag (``models.<name>.tags``: objective, architecture,
  data, ...) and group (``within <value>`` / ``between``), the mean consistency over set pairs;
* ``similarity_gap.csv``: per labelled set with a similarity store and metric, every model pair's
  similarity and probe-accuracy gap; ``similarity_gap_stats.csv``: Spearman's rho and its
  permutation p-value (a Mantel test over models);
* ``alignment_fewshot.csv``: per behaviour dataset, labelled set and shot, the quadratic fit of
  few-shot accuracy on human alignment (rows of ``summary.csv`` with method ``behaviour``, metric
  ``odd_one_out_cosine``, at each model's last probed layer) with its bootstrap band over models;
  a ``reason`` says why a fit was skipped (no such rows, fewer than 4 models);
* figures: ``consistency_figure`` (a set x set matrix per metric), ``gap_figure`` (similarity against
  the accuracy gap) and, when asked, ``alignment_figure``.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .. import store
from ..config import PROBE_DEFAULTS
from ..metrics.alignment_fewshot import alignment_vs_fewshot
from ..metrics.similarity_sets import consistency_matrix, similarity_gap, tag_consistency

log = logging.getLogger(__name__)
ALIGNMENT = {"method": "behaviour", "metric": "odd_one_out_cosine"}


def last_layer_matrices(path) -> tuple[list[str], dict[str, np.ndarray], dict[str, str]]:
    """Models of a similarity store (store order), ``{metric: (m, m) matrix}`` of their last layers,
    and ``{metric: kind}``."""
    ds = store.open_dataset(path)
    models = list(dict.fromkeys(ds.source_model.values.astype(str)))
    index = [int(np.flatnonzero(ds.source_model.values.astype(str) == m)[-1]) for m in models]
    matrices = {str(m): ds.similarity.sel(metric=m).values[np.ix_(index, index)] for m in ds.metric.values}
    kinds = {str(m): str(ds.kind.sel(metric=m).values) for m in ds.metric.values}
    return models, matrices, kinds


def _restrict(models: list[str], matrix: np.ndarray, keep: list[str]) -> np.ndarray:
    index = [models.index(m) for m in keep]
    return matrix[np.ix_(index, index)]


def consistency_tables(sets: dict, spec: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``consistency.csv`` and ``tag_consistency.csv`` (module docstring) from ``{set: last_layer_matrices}``."""
    rows, tag_rows = [], []
    names = list(sets)
    metrics = list(next(iter(sets.values()))[1]) if sets else []
    for metric in metrics:
        for a, b in itertools.product(names, repeat=2):
            common = [m for m in sets[a][0] if m in sets[b][0]]
            value = np.nan
            if len(common) >= 3:
                pair = [_restrict(sets[s][0], sets[s][1][metric], common) for s in (a, b)]
                value = consistency_matrix(pair, spec["method"])[0, 1]
            rows.append({"metric": metric, "set_a": a, "set_b": b, "consistency": value, "n_models": len(common)})
        common = [m for m in sets[names[0]][0] if all(m in sets[s][0] for s in names)]
        if len(names) < 2 or len(common) < 3:
            continue
        matrices = [_restrict(sets[s][0], sets[s][1][metric], common) for s in names]
        tag_names = sorted({t for m in common for t in spec["tags"].get(m, {})})
        for tag in tag_names:
            values = [spec["tags"].get(m, {}).get(tag) for m in common]
            for row in tag_consistency(matrices, values, spec["method"]):
                tag_rows.append({"metric": metric, "tag": tag, **row})
    return (pd.DataFrame(rows, columns=["metric", "set_a", "set_b", "consistency", "n_models"]),
            pd.DataFrame(tag_rows, columns=["metric", "tag", "group", "n_pairs", "consistency"]))


def read_probes(paths) -> pd.DataFrame:
    """One row per probe store: ``stimset``, ``model``, ``layer`` (the last), ``accuracy`` and
    ``fewshot_n{n}`` at that layer."""
    rows = []
    for path in paths:
        ds = store.open_dataset(path)
        last = ds.isel(layer=-1)
        rows.append({"stimset": ds.attrs["dataset"], "model": ds.attrs["model"], "layer": str(last.layer.values),
                     "accuracy": float(last.accuracy),
                     **{f"fewshot_n{int(n)}": float(v) for n, v in zip(ds.shot.values, last.fewshot_mean.values)}})
    return pd.DataFrame(rows)


def gap_tables(sets: dict, probes: pd.DataFrame, spec: dict, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``similarity_gap.csv`` and ``similarity_gap_stats.csv`` (module docstring)."""
    pairs, stats_rows = [], []
    for stimset, part in probes.groupby("stimset", sort=True):
        if stimset not in sets:
            continue
        models_all, matrices, kinds = sets[stimset]
        accuracy = dict(zip(part.model, part.accuracy))
        models = [m for m in models_all if m in accuracy]
        if len(models) < 3:
            log.info("similarity against accuracy gap on %s: skipped, %d probed models (needs 3)", stimset, len(models))
            continue
        acc = np.array([accuracy[m] for m in models])
        for metric, matrix in matrices.items():
            result = similarity_gap(_restrict(models_all, matrix, models), acc,
                                    n_permutations=spec["n_permutations"], seed=seed)
            for (a, b), s, g in zip(itertools.combinations(models, 2), result["similarity"], result["gap"]):
                pairs.append({"stimset": stimset, "metric": metric, "kind": kinds[metric], "model_a": a, "model_b": b,
                              "similarity": s, "gap": g})
            stats_rows.append({"stimset": stimset, "metric": metric, "kind": kinds[metric], "n_models": len(models),
                               "rho": result["rho"], "p_value": result["p_value"],
                               "n_permutations": result["n_permutations"], "exact": result["exact"]})
    return pd.DataFrame(pairs), pd.DataFrame(stats_rows)


def alignment_table(summary, probes: pd.DataFrame, spec: dict, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``alignment_fewshot.csv`` (one row per fit or skipped fit) and the bands (one row per grid point)."""
    rows = (pd.read_csv(summary, keep_default_na=False, na_values=[""]) if summary is not None else pd.DataFrame())
    if len(rows):
        rows = rows[(rows.method == ALIGNMENT["method"]) & (rows.metric == ALIGNMENT["metric"])]
    if not len(rows):
        reason = ("no summary.csv (the study has no behaviour datasets)" if summary is None else
                  f"{summary} has no rows with method {ALIGNMENT['method']!r} and metric {ALIGNMENT['metric']!r}")
        log.info("alignment against few-shot accuracy: skipped, %s", reason)
        return pd.DataFrame([{"reason": reason}]), pd.DataFrame()
    fits, bands = [], []
    last = dict(zip(zip(probes.stimset, probes.model), probes.layer))
    shots = [c for c in probes.columns if c.startswith("fewshot_n")]
    for behaviour, (stimset, part) in itertools.product(sorted(rows.dataset.unique()),
                                                        probes.groupby("stimset", sort=True)):
        own = rows[(rows.dataset == behaviour) & rows.model.isin(part.model)]
        own = own[[last[stimset, m] == layer for m, layer in zip(own.model, own.layer)]]
        alignment = own.groupby("model", as_index=False).score.mean().rename(columns={"score": "alignment"})
        for shot in shots:
            label = {"behaviour": behaviour, "stimset": stimset, "shot": int(shot.removeprefix("fewshot_n"))}
            fewshot = part[["model", shot]].rename(columns={shot: "fewshot"})
            try:
                fit = alignment_vs_fewshot(alignment, fewshot, n_bootstrap=spec["n_bootstrap"], ci=spec["ci"],
                                           seed=seed)
            except ValueError as err:
                fits.append({**label, "reason": str(err)})
                continue
            fits.append({**label, "n_models": len(fit["points"]), "b0": fit["coef"][0], "b1": fit["coef"][1],
                         "b2": fit["coef"][2], "r2": fit["r2"], "vertex": fit["vertex"],
                         "n_bootstrap": fit["n_bootstrap"], "n_degenerate": fit["n_degenerate"], "reason": ""})
            bands += [{**label, "alignment": x, "fit": f, "band_low": lo, "band_high": hi}
                      for x, f, lo, hi in zip(fit["grid"], fit["fit"], fit["band_low"], fit["band_high"])]
            bands += [{**label, "model": m, "alignment": x, "fewshot": y}
                      for m, x, y in fit["points"][["model", "alignment", "fewshot"]].itertuples(index=False)]
    return pd.DataFrame(fits), pd.DataFrame(bands)


def run(spec: dict, *, similarity: dict, probe, out, seed: int, summary=None, consistency_figure=None,
        gap_figure=None, alignment_figure=None) -> None:
    """Write the tables (and figures) of the module docstring under ``out``."""
    from ..figures import probe as figures

    spec = {**PROBE_DEFAULTS, "tags": {}, **spec}
    sets = {name: last_layer_matrices(path) for name, path in sorted(similarity.items())}
    probes = read_probes(probe)
    consistency, tags = consistency_tables(sets, spec)
    pairs, gap_stats = gap_tables(sets, probes, spec, seed)
    fits, bands = alignment_table(summary, probes, spec, seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in (("consistency", consistency), ("tag_consistency", tags), ("similarity_gap", pairs),
                        ("similarity_gap_stats", gap_stats), ("alignment_fewshot", fits),
                        ("alignment_fewshot_band", bands)):
        store.atomic_file(out / f"{name}.csv", lambda p, t=table: t.to_csv(p, index=False, float_format="%.6g"))
    log.info("consistency across sets:\n%s", consistency.to_string(index=False))
    if consistency_figure:
        figures.plot_consistency_matrices(consistency, tags, consistency_figure)
    if gap_figure:
        figures.plot_similarity_gap(pairs, gap_stats, gap_figure)
    if alignment_figure:
        figures.plot_alignment_fewshot(fits, bands, alignment_figure)
