"""The notebook ``notebooks/explore_results.ipynb`` runs top to bottom on the test-size study.

It is executed with nbclient in a Jupyter kernel of this Python (``python3``, the kernel spec
ipykernel installs), its results folder given by ``BRAINALIGN_RESULTS``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "explore_results.ipynb"
pytestmark = pytest.mark.slow


def _outputs(nb) -> tuple[str, list[str]]:
    """All text the notebook printed or displayed, and the MIME types of its rich outputs."""
    text, kinds = [], []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                text.append(out.text)
            elif "data" in out:
                kinds += list(out["data"])
                text.append(str(out["data"].get("text/plain", "")))
    return "\n".join(text), kinds


def test_notebook_opens_every_store_and_remakes_a_figure(study, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_RESULTS", str(study))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    text, kinds = _outputs(nb)
    stores = sorted(p for p in study.rglob("*.zarr") if ".zarr" not in p.parent.as_posix())
    assert f"{len(stores)} stores under {study.resolve()}" in text
    for path in stores:
        assert str(path.relative_to(study)) in text, f"{path} not shown"
    for stage in ("stimuli", "features", "fmri", "encoding", "rsa", "similarity", "summarize"):
        assert stage in text
    assert "image/png" in kinds  # the figure remade from the stores
    assert "notebook curves equal summary.csv: True" in text
