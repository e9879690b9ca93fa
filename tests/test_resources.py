"""Job resources sized from the data (``rules/common.smk``): memory and time requests follow the
sizes of each job's input stores (``brainalign.store.store_nbytes``), or for RSA the shape of its
data (``brainalign.job_resources``), by the rules' formulas, checked in closed form on the dry-run
listing of the test study; the RSA formulas also against the NSD-sized benchmark's measured peak."""

import math
import re
from pathlib import Path

import yaml

from brainalign import store
from brainalign.job_resources import (roi_rdms_memory_mib, roi_rdms_runtime_min, rsa_memory_mib, rsa_runtime_min,
                                      rsa_shape)
from brainalign.stages._rsa_settings import counts_ranks
from study_runner import TEST_CONFIG, snakemake


def _jobs(output: str) -> list[dict]:
    """Rule, inputs and resources of every job of a dry run's listing."""
    jobs = []
    for block in re.split(r"\n(?=rule \w+:\n)", output)[1:]:
        job = {"rule": block.split(":", 1)[0].removeprefix("rule ")}
        for key in ("input", "resources", "wildcards"):
            m = re.search(rf"^    {key}: (.*)$", block, re.M)
            job[key] = m.group(1) if m else ""
        job["input"] = job["input"].split(", ") if job["input"] else []
        job["resources"] = dict(kv.split("=", 1) for kv in job["resources"].split(", ") if "=" in kv)
        jobs.append(job)
    return jobs


def test_memory_and_time_follow_the_input_stores(study, tmp_path):
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    cfg["encoding"]["unit_jobs"] = 3
    (tmp_path / "scattered.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    checked = set()
    for configfile in (TEST_CONFIG, tmp_path / "scattered.yaml"):
        out = snakemake("-n", "-F", results=study, configfile=configfile)  # a dry run writes no store
        for job in _jobs(out.stdout):
            if job["rule"] == "fmri":  # the subject's folder of the BIDS dataset, and the list of stimulus ids
                stimuli, bids = map(Path, job["input"])
                subject = bids / f"sub-{job['wildcards'].split('sub=')[1].split(',')[0]}"
                nbytes = sum(f.stat().st_size for f in subject.rglob("*") if f.is_file()) + stimuli.stat().st_size
                assert 0 < nbytes < sum(f.stat().st_size for f in bids.rglob("*") if f.is_file())
                assert int(job["resources"]["mem_mb"]) == math.ceil(2000 + 20 * nbytes / 2**20)
                checked.add("fmri")
            if job["rule"] not in ("encoding", "encoding_part", "rsa", "roi_rdms") or ".parts/" in job["input"][0]:
                continue  # (the gathering job's inputs, the parts, do not exist in a dry run)
            mib = {p: store.store_nbytes(p) / 2**20 for p in job["input"]}
            brain = mib[job["input"][0]]
            if job["rule"] == "encoding" and configfile == TEST_CONFIG:
                assert int(job["resources"]["mem_mb"]) == math.ceil(1000 + 6 * sum(mib.values()))
                assert int(job["resources"]["runtime"]) == math.ceil(10 + 60 * sum(mib.values()) / 1024)
            elif job["rule"] == "encoding_part":  # one third of the betas, all the features
                share = sum(mib.values()) - brain + brain / 3
                assert int(job["resources"]["mem_mb"]) == math.ceil(1000 + 6 * share)
            elif job["rule"] == "rsa":  # from the shape of the data: its pairs, RDMs, voxels
                shape = rsa_shape(*job["input"])
                assert shape["n"] >= 3 and shape["rois"] >= 1 and shape["layers"] >= 1
                counting = counts_ranks(cfg["rsa"], shape["n"])
                assert int(job["resources"]["mem_mb"]) == math.ceil(rsa_memory_mib(shape, counting) * 1.048576)
                assert int(job["resources"]["runtime"]) == rsa_runtime_min(shape, cfg["rsa"]["n_bootstrap"], 1)
                assert int(job["resources"]["mem_mb"]) < 1000  # a small study asks for little
                assert shape["units"] == shape["trials"] == 0  # its input is the subject's roi_rdms store
            elif job["rule"] == "roi_rdms":  # the ROIs' RDMs, from the betas
                shape = rsa_shape(job["input"][0])
                assert shape["n"] >= 3 and shape["rois"] >= 1 and shape["units"] >= 3 and shape["trials"] > shape["n"]
                assert int(job["resources"]["mem_mb"]) == math.ceil(roi_rdms_memory_mib(shape) * 1.048576)
                assert int(job["resources"]["runtime"]) == roi_rdms_runtime_min(shape, 1)
            checked.add(job["rule"])
    assert checked == {"fmri", "encoding", "encoding_part", "rsa", "roi_rdms"}


def test_rsa_memory_requests_cover_the_measured_nsd_peaks_without_waste():
    """At NSD size (10,000 stimuli, 4 ROIs of 4,000 voxels, 3 layers) ``bench/bench_rsa_10k.py``
    measured peaks of 2,797 MiB for the RSA job (on the subject's ROI RDMs) and 1,551 MiB for the
    ``roi_rdms`` job (2026-12-06); each request covers its peak by at most 1.5 times, where four
    times the input stores (the previous rule) asked for about 9 GB with 30,000 trials."""
    rsa_job = {"n": 10_000, "layers": 3, "rois": 4, "units": 0, "trials": 0}
    assert 2797 <= rsa_memory_mib(rsa_job) <= 1.2 * 2797
    assert rsa_memory_mib(rsa_job, counting=False) > rsa_memory_mib(rsa_job)  # every layer's RDM in float64
    assert rsa_memory_mib({**rsa_job, "n": 96}) < 1000
    rois_job = {"n": 10_000, "layers": 0, "rois": 4, "units": 4000, "trials": 10_000}
    assert 1551 <= roi_rdms_memory_mib(rois_job) <= 1.5 * 1551
    assert roi_rdms_memory_mib({**rois_job, "n": 96, "trials": 288}) < 1000
