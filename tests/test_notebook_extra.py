"""The ``notebook`` extra brings what ``notebooks/explore_results.ipynb`` needs: every module the
notebook imports is in the standard library, a core dependency or the extra, and the extra holds
JupyterLab and the kernel."""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTION = {"yaml": "pyyaml", "sklearn": "scikit-learn", "PIL": "pillow"}  # import name -> package


def _names(requirements) -> set[str]:
    return {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_notebook_imports_are_installed_by_core_or_notebook_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = _names(project["optional-dependencies"]["notebook"])
    available = _names(project["dependencies"]) | extra
    assert {"jupyterlab", "ipykernel"} <= extra
    cells = json.loads((ROOT / "notebooks" / "explore_results.ipynb").read_text())["cells"]
    imported = set()
    for cell in cells:
        if cell["cell_type"] == "code":
            for node in ast.walk(ast.parse("".join(cell["source"]))):
                if isinstance(node, ast.Import):
                    imported |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    imported.add(node.module.split(".")[0])
    assert {"xarray", "pandas"} <= imported
    missing = {m for m in imported - set(sys.stdlib_module_names) if DISTRIBUTION.get(m, m).lower() not in available}
    assert not missing, f"the notebook imports {sorted(missing)}, which neither the core nor the notebook extra installs"
