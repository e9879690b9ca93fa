"""The test-size default study on a real single-node SLURM cluster (``--executor slurm``).

``tests/slurm/start_cluster.sh`` brings up munge, MariaDB, slurmdbd, slurmctld and slurmd under a
private state folder; ``config/test.yaml`` is submitted with ``--workflow-profile profiles/slurm``
(``profiles/slurm``, in place of ``profiles/default``; partition and
account given on the command line as a user sets them in the profile; status checks every second;
no GPU, the test node has none). Checked:

* a job that fails on the cluster fails the workflow, and the message names the rule's log;
* the re-run resumes: only the failed job and what depends on it are submitted;
* ``sacct`` lists every job of both runs, with the rule the plugin wrote in its comment;
* every store (and table) equals the local run of the same study (the ``study`` fixture).

Skips without the Debian packages (``slurm-wlm slurmctld slurmd munge slurmdbd mariadb-server``)
or without root, except in CI (``CI`` set), where either is an error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from study_runner import PROJECT, TEST_CONFIG, planned_jobs, results_hash

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
SCRIPTS = PROJECT / "tests" / "slurm"
COMMANDS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "sbatch", "sacct", "sinfo")
FAILING = ("encoding", "logs/encoding/sim_sub-02_cnn.log")


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"SLURM test cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Environment (``SLURM_CONF``) of a running single-node cluster, stopped afterwards."""
    missing = [c for c in COMMANDS if shutil.which(c) is None]
    if missing:
        _unavailable(f"SLURM is not installed ({', '.join(missing)} not found; apt-get install "
                     "slurm-wlm slurmctld slurmd munge slurmdbd mariadb-server)")
    if os.geteuid() != 0:
        _unavailable("starting the SLURM daemons needs root")
    state = tmp_path_factory.mktemp("slurm-state")
    env = {**os.environ, "BRAINALIGN_SLURM_STATE": str(state)}
    start = subprocess.run([SCRIPTS / "start_cluster.sh"], capture_output=True, text=True, env=env)
    try:
        assert start.returncode == 0, f"start_cluster.sh failed:\n{start.stderr}"
        again = subprocess.run([SCRIPTS / "start_cluster.sh"], capture_output=True, text=True, env=env)
        assert again.returncode == 0 and " started" not in again.stderr  # idempotent: nothing restarted
        assert again.stdout == start.stdout
        env["SLURM_CONF"] = start.stdout.split("SLURM_CONF=")[1].strip()
        yield env
    finally:
        subprocess.run([SCRIPTS / "stop_cluster.sh"], env=env, check=False)


def _slurm_snakemake(env, results: Path, *args, path_first: Path | None = None):
    """Submit the study with the project's SLURM profile (``path_first``: a folder put first on
    the PATH of the jobs, which inherit the submitter's environment)."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT / "Snakefile"),
           "--directory", str(PROJECT), "--workflow-profile", str(PROJECT / "profiles" / "slurm"),
           "--configfile", str(TEST_CONFIG), "--config", f"results_dir={results}", "allow_results_outside=True",
           # what a user writes into profiles/slurm/config.yaml, for this test cluster:
           "--default-resources", "slurm_partition=debug", "slurm_account=brainalign",
           "--set-resources", "features:gpu=0",
           # poll often: the plugin waits 40 s before its first status check by default
           "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1",
           "--retries", "0", "--latency-wait", "5", *args]
    path = os.pathsep.join([*([str(path_first)] if path_first else []), str(Path(sys.executable).parent),
                            env["PATH"]])
    return subprocess.run(cmd, capture_output=True, text=True, env={**env, "PATH": path})


def _sacct(env, since: str) -> list[dict]:
    """Every job of the cluster since ``since``: id, rule (from the plugin's comment), state."""
    out = subprocess.run(["sacct", "-a", "-X", "-n", "-P", "-S", since, "-o", "JobID,Comment,State"],
                         capture_output=True, text=True, env=env, check=True).stdout
    rows = [dict(zip(("id", "comment", "state"), line.split("|"))) for line in out.splitlines() if line]
    for row in rows:
        row["rule"] = row["comment"].removeprefix("rule_").split("_wildcards_")[0]
    return rows


def _count(rows, state=None) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        if state is None or row["state"] == state:
            counts[row["rule"]] = counts.get(row["rule"], 0) + 1
    return counts


@pytest.fixture(scope="module")
def slurm_study(cluster, tmp_path_factory):
    """Two submissions of the study: the first with one encoding job failing, then the re-run."""
    tmp = tmp_path_factory.mktemp("slurm-study")
    results = tmp / "results"
    # a `brainalign` first on the jobs' PATH that fails one job
    fake = tmp / "bin" / "brainalign"
    fake.parent.mkdir()
    real = shutil.which("brainalign", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    fake.write_text(f"""#!/usr/bin/env bash
if [[ "$1" == encoding && "$*" == *"--brain {results}/brain/sim/sub-02.zarr --features "*"/cnn.zarr "* ]]; then
    echo "injected failure" >&2; exit 3
fi
exec {real} "$@"
""")
    fake.chmod(0o755)
    dry = _slurm_snakemake(cluster, results, "-n")
    planned = planned_jobs(dry.stdout + dry.stderr)
    t0 = time.time()
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t0 - 1))
    first = _slurm_snakemake(cluster, results, "--keep-going", path_first=fake.parent)
    failed_log = (results / FAILING[1]).read_text()
    t1 = time.time()
    first_jobs = _sacct(cluster, since)
    second = _slurm_snakemake(cluster, results)
    t2 = time.time()
    all_jobs = _sacct(cluster, since)
    print(f"SLURM study: first run {t1 - t0:.0f} s, re-run {t2 - t1:.0f} s")
    return {"results": results, "planned": planned, "first": first, "second": second,
            "failed_log": failed_log, "first_jobs": first_jobs, "second_jobs": all_jobs[len(first_jobs):]}


def test_failed_job_fails_the_workflow_naming_its_log(slurm_study):
    first = slurm_study["first"]
    output = first.stdout + first.stderr
    assert first.returncode != 0
    rule, log = FAILING
    assert f"Error in rule {rule}" in output and log in output
    assert "injected failure" in slurm_study["failed_log"]
    assert _count(slurm_study["first_jobs"], "FAILED") == {rule: 1}


def test_rerun_resumes_only_the_missing_jobs(slurm_study):
    second = slurm_study["second"]
    assert second.returncode == 0, second.stderr[-5000:]
    # the failed job, and what reads its store: the summary and the figures drawn from both
    expected = {"encoding": 1, "summarize": 1, "figure_score_by_layer": 1, "figure_brain_map": 1}
    assert planned_jobs(second.stdout + second.stderr) == {**expected, "all": 1}
    assert _count(slurm_study["second_jobs"]) == _count(slurm_study["second_jobs"], "COMPLETED") == expected


def test_every_job_ran_through_the_scheduler(slurm_study):
    planned = {rule: n for rule, n in slurm_study["planned"].items() if rule != "all"}
    assert planned["encoding"] == planned["rsa"] == planned["meg_align"] == planned["features"] == 8
    jobs = slurm_study["first_jobs"] + slurm_study["second_jobs"]
    assert _count(jobs, "COMPLETED") == planned
    assert len(jobs) == sum(planned.values()) + 1  # and the one that failed
    assert all(row["state"] in ("COMPLETED", "FAILED") for row in jobs)


def test_results_equal_the_local_run(slurm_study, study):
    results = slurm_study["results"]
    stores = sorted(p.relative_to(study) for p in study.rglob("*.zarr"))
    # stimuli, features (4 models x 2 stimulus sets), fMRI brain, ROI RDMs, encoding+rsa, similarity,
    # scores; MEG brain, time-resolved rsa+encoding
    assert len(stores) == 2 + 4 * 2 + 2 + 2 + 2 * 4 * 2 + 2 + 1 + 2 + 2 * 4
    differ = [str(s) for s in stores + [Path("bids")]
              if results_hash(results / s, results) != results_hash(study / s, study)]
    assert differ == []
    for table in ("summary.csv", "recovery.csv", "meg_summary.csv", "meg_recovery.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(results / table), pd.read_csv(study / table))
