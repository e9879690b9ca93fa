"""Running the project's Snakefile from tests: ``snakemake(...)`` and dry-run job counts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
TEST_CONFIG = PROJECT / "config" / "test.yaml"


def snakemake(*args, results: Path, configfile: Path = TEST_CONFIG, check=True, **kwargs):
    """Run Snakemake on the project with its results (and logs, and metadata) under ``results``."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT / "Snakefile"),
           "--directory", str(PROJECT), "--configfile", str(configfile),
           "--config", f"results_dir={results}", "--cores", "2", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, **kwargs)
    if check and out.returncode != 0:
        raise AssertionError(f"snakemake failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}")
    return out


def planned_jobs(output: str) -> dict[str, int]:
    """Job counts per rule from the 'Job stats' table of a dry run."""
    counts, table = {}, False
    for line in output.splitlines():
        if line.startswith("job ") and "count" in line:
            table = True
            continue
        if table:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                if parts[0] == "total":
                    break
                counts[parts[0]] = int(parts[1])
    return counts
