"""What every figure shares: the Agg backend, one colour per model, readable font sizes, saving."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .. import store  # noqa: E402

DPI = 110
STYLE = {"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 9.5, "xtick.labelsize": 8.5,
         "ytick.labelsize": 8.5, "legend.fontsize": 9, "figure.titlesize": 12}


def model_colours(models) -> dict[str, tuple]:
    """The same colour for a model in every figure: tab10 in sorted name order."""
    return dict(zip(sorted(models), plt.get_cmap("tab10").colors * 3))


def save(fig, path) -> None:
    """Write ``fig`` as a PNG at ``path`` (atomically) and close it; the page is cut to what is
    drawn (``bbox_inches="tight"``), so long rotated tick labels are never clipped."""
    store.atomic_file(path, lambda tmp: fig.savefig(tmp, dpi=DPI, format="png", bbox_inches="tight",
                                                    pad_inches=0.1))
    plt.close(fig)
