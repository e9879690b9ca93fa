"""Running the project's Snakefile from tests: ``snakemake(...)`` and dry-run job counts."""

from __future__ import annotations

import hashlib
import json
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
           "--config", f"results_dir={results}", "allow_results_outside=True", "--cores", "2", *args]
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


def results_hash(path: Path, results: Path) -> str:
    """Content hash of a store or folder of the results folder ``results`` that two runs into
    different folders share: like ``brainalign.store.content_hash``, with the folder's path written
    as ``RESULTS`` and the inputs' hashes left out of the provenance (they hash their own
    provenance, paths included); compare the inputs themselves."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.is_file() and p.name != ".snakemake_timestamp")
    for f in files:
        h.update(str(f.relative_to(path) if f != path else f.name).encode())
        if f.name == "zarr.json":
            meta = json.loads(f.read_text().replace(str(results), "RESULTS"))
            attrs = meta.get("attributes", {})
            attrs.pop("created", None)
            if "inputs" in attrs:
                attrs["inputs"] = sorted(attrs["inputs"])
            h.update(json.dumps(meta, sort_keys=True).encode())
        else:
            h.update(f.read_bytes())
    return h.hexdigest()
