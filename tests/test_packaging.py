"""Packaging: the conda environment and the console script match pyproject.toml."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;]", requirement.strip(), maxsplit=1)[0].lower()


def test_conda_environment_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["language"]}
    env = yaml.safe_load((PROJECT / "envs" / "brainalign.yaml").read_text())
    conda = {CONDA_NAMES.get(_name(d), _name(d)) for d in env["dependencies"] if isinstance(d, str)}
    pip = [d for d in env["dependencies"] if isinstance(d, dict)][0]["pip"]
    listed = (conda | {_name(p) for p in pip if not p.startswith("-")}) - {"python", "pip"}
    assert listed == wanted
    assert "-e .." in pip  # the environment installs brainalign itself from this checkout


def test_every_rule_uses_the_conda_environment():
    for smk in (PROJECT / "rules").glob("*.smk"):
        text = smk.read_text()
        rules = re.findall(r"^\s*rule \w+:", text, flags=re.M)  # also rules inside an `if` block
        assert len(rules) == text.count('"../envs/brainalign.yaml"'), smk.name


def test_console_script_lists_every_stage():
    out = subprocess.run([sys.executable, "-m", "brainalign.cli", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for stage in ("stimuli", "features", "simulate", "fmri", "encoding", "gather", "rsa", "similarity", "summarize", "figure",
                  "layers"):
        assert stage in out
