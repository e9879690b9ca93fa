# brainalign: a reproducible brain-model alignment study, from stimuli to a report.
# Run `snakemake --cores 2` (the profile in profiles/default is loaded automatically).
# Every stage writes one Zarr store under `results_dir`; see README.md and ../shared/DESIGN.md.

import os
import time
from pathlib import Path

from brainalign.configfile import check_config_files
from brainalign.input_manifest import InputManifests
from brainalign.plan import StudyPlan
from brainalign.results_lock import ResultsLock, remove_temporaries
from brainalign.run_warnings import print_run_warnings

RUN_STARTED = time.time()  # this run's logs are those written since (their warnings: onsuccess, onerror)
# The default study, unless a study config is given with --configfile: that one replaces it whole
# (Snakemake would otherwise merge it into the default and run both studies). --config key=value
# still overrides single keys of either, nested ones as a mapping (--config 'rsa={n_bootstrap: 50}').
CONFIG_FILES = workflow.overwrite_configfiles or ["config/config.yaml"]
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# `brainalign check` before anything is planned: the files read again strictly (Snakemake keeps the
# last of a key given twice; here it is an error naming its file and line), the overrides applied,
# and an unknown key, a wrong type or a missing file an error that names the key; no job starts.
STUDY = check_config_files(
    CONFIG_FILES, Path(workflow.basedir) / "config" / "schema.yaml", overrides=workflow.config_settings.config
)
config.clear()
config.update(STUDY)
PLAN = StudyPlan(config)
MANIFESTS = InputManifests(config)  # external files as inputs, through manifests of their contents
MANIFESTS.write_all()
R = config["results_dir"]
RESULTS_LOCK = ResultsLock(R)  # one run at a time in results_dir, from whatever working folder


# Snakemake keeps one handler of each kind: these hold the results lock for the run, clean up after
# killed stages, keep failed jobs' previous stores (rules/safety.smk), and repeat at the end the
# warnings that stages logged in this run.
onstart:
    RESULTS_LOCK.acquire()
    for path in remove_temporaries(R):
        print(f"brainalign: removed {path}, left by a stage that was killed")
    drop_leftover_backups()


onsuccess:
    RESULTS_LOCK.release()
    print_run_warnings(f"{R}/logs", RUN_STARTED)


onerror:
    mark_unfinished_updates_incomplete()
    RESULTS_LOCK.release()
    print_run_warnings(f"{R}/logs", RUN_STARTED)


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/stimuli.smk"
include: "rules/features.smk"
include: "rules/simulate.smk"
include: "rules/fmri.smk"
include: "rules/rdms.smk"
include: "rules/encoding.smk"
include: "rules/banded.smk"
include: "rules/rsa.smk"
include: "rules/similarity.smk"
include: "rules/meg.smk"
include: "rules/report.smk"
include: "rules/decode.smk"
include: "rules/curves.smk"
include: "rules/probe.smk"
include: "rules/sweep.smk"
include: "rules/behaviour.smk"
include: "rules/safety.smk"
include: "rules/ensembles.smk"


rule all:
    default_target: True
    input:
        PLAN.similarity_stores(),
        PLAN.banded_stores(),
        f"{R}/summary.csv",
        f"{R}/recovery.csv",
        PLAN.figures(),
        PLAN.curve_outputs(),
        PLAN.ensemble_outputs(),
        PLAN.sweep_outputs(),
        *(
            [f"{R}/meg_summary.csv", f"{R}/meg_recovery.csv", f"{R}/figures/meg_timecourse.png"]
            if PLAN.datasets("meg")
            else []
        ),
