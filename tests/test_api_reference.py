"""The public Python API: ``brainalign.metrics`` exports its functions (imported lazily),
``brainalign.stages`` its stage modules, and ``docs/api.md`` is what
``python -m brainalign.api_reference`` generates from the docstrings today."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import brainalign.metrics as metrics
import brainalign.stages as st
from brainalign import api_reference

ROOT = Path(__file__).resolve().parents[1]
SAME_NAME = {"similarity", "similarity_null", "noise_precision"}  # functions named like their module


def test_metrics_exports_every_public_name_of_its_submodules():
    exported = set()
    for module_name, names in metrics.SUBMODULES.items():
        module = importlib.import_module(f"brainalign.metrics.{module_name}")
        assert set(names) <= set(module.__all__), module_name
        exported |= set(names)
    listed = {n for m in metrics.SUBMODULES for n in importlib.import_module(f"brainalign.metrics.{m}").__all__}
    assert exported | SAME_NAME == listed and sorted(exported) == metrics.__all__
    for name in metrics.__all__:  # the package's name is the submodule's object itself
        home = next(m for m, names in metrics.SUBMODULES.items() if name in names)
        assert getattr(metrics, name) is getattr(importlib.import_module(f"brainalign.metrics.{home}"), name)
    submodules = {m.name for m in pkgutil.iter_modules(metrics.__path__)}
    assert not submodules & set(metrics.__all__)
    from brainalign.metrics import linear_cka, rsa_scores  # noqa: F401  (the import a notebook writes)


def test_metrics_package_imports_no_submodule_until_asked():
    code = ("import sys, brainalign.metrics as m; assert not [k for k in sys.modules if k.startswith("
            "'brainalign.metrics.')], sorted(sys.modules); m.linear_cka; assert 'brainalign.metrics.cka' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(ROOT / "workflow")})


def test_stages_are_attributes_of_the_package():
    assert st.rsa.run is importlib.import_module("brainalign.stages.rsa").run
    modules = {m.name for m in pkgutil.iter_modules(st.__path__) if not m.name.startswith("_")}
    assert {m for m in modules if hasattr(importlib.import_module(f"brainalign.stages.{m}"), "run")} == set(st.__all__)


def test_committed_api_reference_is_up_to_date():
    text = api_reference.reference()
    assert (ROOT / "docs" / "api.md").read_text() == text, (
        "docs/api.md is out of date: run `python -m brainalign.api_reference --out docs/api.md`")
    for name in metrics.__all__:
        assert f"`{name}" in text or f"`class {name}" in text or f"`{name}`" in text
    assert "`rsa.run(spec: dict, *, brain, features, out, seed: int) -> None`" in text
