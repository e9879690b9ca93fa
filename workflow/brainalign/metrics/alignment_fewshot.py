"""Human alignment against few-shot accuracy across models (Sucholutsky & Griffiths 2023).

Each model is one point: its human-alignment score ``x`` (e.g. odd-one-out agreement with human
triplet choices) and its few-shot accuracy ``y``. The quadratic ``y = b0 + b1 x + b2 x^2`` is fitted
by least squares; ``b2 > 0`` is the U shape the paper reports (models of intermediate alignment
learn worst from few examples). The band is a bootstrap over models: ``n_bootstrap`` resamples of
the models with replacement (seeded), each refitted (a resample with fewer than 3 distinct ``x``
cannot fix a quadratic: it is left out and counted in ``n_degenerate``), the
fitted curve evaluated on a grid of ``x`` spanning the data; ``band_low``/``band_high`` are the
central ``ci`` percentiles of the curves at each grid point.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["fit_quadratic", "alignment_vs_fewshot"]


def fit_quadratic(x, y) -> np.ndarray:
    """Least-squares coefficients ``(b0, b1, b2)`` of ``y = b0 + b1 x + b2 x^2``."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    design = np.column_stack([np.ones_like(x), x, x**2])
    return np.linalg.lstsq(design, y, rcond=None)[0]


def _curve(coef: np.ndarray, grid: np.ndarray) -> np.ndarray:
    return coef[0] + coef[1] * grid + coef[2] * grid**2


def alignment_vs_fewshot(alignment: pd.DataFrame, fewshot: pd.DataFrame, *, n_bootstrap: int = 1000,
                         ci: float = 0.95, seed: int = 0, n_grid: int = 50) -> dict:
    """Quadratic fit of few-shot accuracy on human alignment, with a bootstrap band over models.

    Parameters
    ----------
    alignment : DataFrame with columns ``model``, ``alignment`` (one row per model)
    fewshot : DataFrame with columns ``model``, ``fewshot`` (one row per model)

    Returns ``points`` (the merged DataFrame, models in both), ``coef`` (b0, b1, b2), ``r2`` (of the
    fit), ``vertex`` (``-b1 / (2 b2)``, the alignment of the curve's extremum), ``grid``, ``fit``,
    ``band_low``, ``band_high`` (n_grid,), ``n_bootstrap`` (resamples used) and ``n_degenerate``.
    Raises ``ValueError`` with fewer than 4 models in both tables (3 coefficients and 1 residual
    degree of freedom) or fewer than 3 distinct alignments.
    """
    for name, table, column in (("alignment", alignment, "alignment"), ("fewshot", fewshot, "fewshot")):
        missing = {"model", column} - set(table.columns)
        if missing:
            raise ValueError(f"alignment_vs_fewshot: the {name} table lacks column(s) {sorted(missing)}")
        if table.model.duplicated().any():
            raise ValueError(f"alignment_vs_fewshot: the {name} table has several rows for model(s) "
                             f"{sorted(set(table.model[table.model.duplicated()]))}")
    points = alignment[["model", "alignment"]].merge(fewshot[["model", "fewshot"]], on="model").dropna()
    x, y = points.alignment.to_numpy(np.float64), points.fewshot.to_numpy(np.float64)
    if len(points) < 4 or len(np.unique(x)) < 3:
        raise ValueError(f"alignment_vs_fewshot: a quadratic over models needs at least 4 models with both scores "
                         f"and 3 distinct alignments; got {len(points)} ({sorted(points.model)})")
    coef = fit_quadratic(x, y)
    residual = y - _curve(coef, x)
    r2 = 1.0 - float(residual @ residual) / float(((y - y.mean()) ** 2).sum())
    grid = np.linspace(x.min(), x.max(), n_grid)
    rng = np.random.default_rng(seed)
    curves, degenerate = [], 0
    for _ in range(n_bootstrap):
        take = rng.integers(0, len(x), len(x))
        if len(np.unique(x[take])) < 3:
            degenerate += 1
            continue
        curves.append(_curve(fit_quadratic(x[take], y[take]), grid))
    tail = 100 * (1 - ci) / 2
    low, high = (np.percentile(np.array(curves), [tail, 100 - tail], axis=0) if curves
                 else (np.full(n_grid, np.nan),) * 2)
    return {"points": points, "coef": coef, "r2": r2, "vertex": -coef[1] / (2 * coef[2]) if coef[2] else np.nan,
            "grid": grid, "fit": _curve(coef, grid), "band_low": low, "band_high": high,
            "n_bootstrap": len(curves), "n_degenerate": degenerate}
