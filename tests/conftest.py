"""Shared fixtures: where the reference data in ``../shared/data`` lives, and one complete run
of the test-size default study (``study``), shared by every test module that reads its results.

The path comes from ``BRAINALIGN_SHARED_DATA`` (default: ``../shared/data`` beside the project).
Tests that need it skip with a reason when it is absent, except in CI (``CI`` set), where its
absence is an error.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("BRAINALIGN_SHARED_DATA", PROJECT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not (path / "README.md").is_file():
        msg = f"reference data not found at {path} (set BRAINALIGN_SHARED_DATA)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def study(tmp_path_factory, shared_data) -> Path:
    """The results folder of one complete Snakemake run of ``config/test.yaml`` (read-only:
    tests that change results work on a copy)."""
    from study_runner import snakemake

    results = tmp_path_factory.mktemp("study") / "results"
    snakemake(results=results)
    return results
