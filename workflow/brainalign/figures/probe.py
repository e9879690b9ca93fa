"""Figures of model behaviour and model-model similarity across stimulus sets (stage ``probe_compare``).

``plot_consistency_matrices``: per metric, the stimulus set x stimulus set matrix of consistency
(correlation over model pairs of the similarities on the two sets), with the values written in the
cells; the tag groups' mean consistency, when models have tags, in the panel's caption line.
``plot_similarity_gap``: per labelled set (rows) and metric (columns), each model pair's similarity
against the gap in probe accuracy, titled with Spearman's rho and its permutation p-value.
``plot_alignment_fewshot``: per fit, each model's human alignment against its few-shot accuracy,
with the quadratic fit and its bootstrap band over models (or the reason a fit was skipped).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ._common import STYLE, model_colours, save


def plot_consistency_matrices(consistency: pd.DataFrame, tags: pd.DataFrame, path) -> dict:
    """Draw one set x set matrix per metric to ``path``; return ``{metric: matrix drawn}``."""
    metrics = list(dict.fromkeys(consistency.metric))
    sets = list(dict.fromkeys(consistency.set_a))
    drawn = {}
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, max(len(metrics), 1), squeeze=False, layout="constrained",
                                 figsize=(2.2 + 0.5 * len(sets), 2.6 + 0.5 * len(sets)) if len(metrics) <= 1 else
                                 (3.0 * len(metrics) + 0.6, 3.2 + 0.4 * len(sets)))
        for ax, metric in zip(axes[0], metrics):
            part = consistency[consistency.metric == metric].pivot(index="set_a", columns="set_b", values="consistency")
            matrix = part.loc[sets, sets].to_numpy(float)
            drawn[metric] = matrix
            image = ax.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r", interpolation="nearest")
            for (i, j), v in np.ndenumerate(matrix):
                ax.text(j, i, "n/a" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=8)
            ax.set_xticks(range(len(sets)), sets, rotation=90)
            ax.set_yticks(range(len(sets)), sets)
            groups = tags[tags.metric == metric] if len(tags) else tags
            note = "; ".join(f"{r.tag} {r.group}: {r.consistency:.2f}" for r in groups.itertuples()
                             if np.isfinite(r.consistency))
            ax.set_title(metric + (f"\n{note}" if note else ""), fontsize=8 if note else 10)
            fig.colorbar(image, ax=ax, shrink=0.7).set_label("consistency (r over model pairs)")
        fig.suptitle("Consistency of model x model similarity between stimulus sets")
        save(fig, path)
    return drawn


def plot_similarity_gap(pairs: pd.DataFrame, stats: pd.DataFrame, path) -> None:
    """Draw similarity against the probe-accuracy gap (module docstring) to ``path``."""
    sets = sorted(set(stats.stimset)) if len(stats) else []
    metrics = list(dict.fromkeys(stats.metric)) if len(stats) else []
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(max(len(sets), 1), max(len(metrics), 1), squeeze=False, layout="constrained",
                                 figsize=(3.2 * max(len(metrics), 1) + 0.4, 3.2 * max(len(sets), 1) + 0.6))
        if not len(stats):
            axes[0, 0].text(0.5, 0.5, "no labelled set with a similarity store\nand at least 3 probed models",
                            ha="center", va="center")
            axes[0, 0].set_axis_off()
        for r, stimset in enumerate(sets):
            for c, metric in enumerate(metrics):
                ax = axes[r, c]
                part = pairs[(pairs.stimset == stimset) & (pairs.metric == metric)]
                row = stats[(stats.stimset == stimset) & (stats.metric == metric)].iloc[0]
                ax.scatter(part.gap, part.similarity, s=18, color="tab:blue", edgecolor="none")
                for p in part.itertuples():
                    ax.annotate(f"{p.model_a}-{p.model_b}", (p.gap, p.similarity), fontsize=6.5, alpha=0.8)
                ax.set_title(f"{metric} on {stimset}\nSpearman ρ = {row.rho:.2f}, p = {row.p_value:.3g}"
                             f" ({'exact' if row.exact else row.n_permutations} perm.)")
                ax.set_xlabel("|probe accuracy a - b| (last layers)")
                ax.set_ylabel(row.kind)
        fig.suptitle("Model x model similarity against the gap in linear-probe accuracy (one point per model pair)")
        save(fig, path)


def plot_alignment_fewshot(fits: pd.DataFrame, bands: pd.DataFrame, path) -> None:
    """Draw human alignment against few-shot accuracy with the quadratic fits (module docstring) to ``path``."""
    done = fits[fits.reason.fillna("") == ""] if "reason" in fits else fits
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, max(len(done), 1), squeeze=False, layout="constrained",
                                 figsize=(3.6 * max(len(done), 1) + 0.4, 3.6))
        if not len(done):
            reasons = "\n".join(sorted(set(fits.reason.astype(str)))) if len(fits) else "no fit"
            axes[0, 0].text(0.5, 0.5, f"skipped:\n{reasons}", ha="center", va="center", wrap=True, fontsize=8)
            axes[0, 0].set_axis_off()
        for ax, fit in zip(axes[0], done.itertuples()):
            part = bands[(bands.behaviour == fit.behaviour) & (bands.stimset == fit.stimset) & (bands.shot == fit.shot)]
            curve, points = part[part.model.isna()], part[part.model.notna()]
            ax.fill_between(curve.alignment, curve.band_low, curve.band_high, color="0.85", label="bootstrap band")
            ax.plot(curve.alignment, curve.fit, color="k", lw=1.2, label="quadratic fit")
            colours = model_colours(points.model)
            for p in points.itertuples():
                ax.scatter(p.alignment, p.fewshot, color=colours[p.model], s=30, zorder=3, label=p.model)
            ax.set_title(f"{fit.behaviour} vs {fit.stimset}, {fit.shot}-shot\n"
                         f"b2 = {fit.b2:.3g}, R² = {fit.r2:.2f}, {int(fit.n_models)} models")
            ax.set_xlabel("human alignment (odd-one-out agreement)")
            ax.set_ylabel(f"{fit.shot}-shot probe accuracy")
            ax.set_ylim(-0.05, 1.05)  # an accuracy: a band wider than [0, 1] (few models) is cut at the axes
            ax.legend(fontsize=7)
        fig.suptitle("Human alignment against few-shot accuracy across models")
        save(fig, path)
