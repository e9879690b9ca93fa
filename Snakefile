# brainalign: a reproducible brain-model alignment study, from stimuli to a report.
# Run `snakemake --cores 2` (the profile in profiles/default is loaded automatically).
# Every stage writes one Zarr store under `results_dir`; see README.md and ../shared/DESIGN.md.

import os
from pathlib import Path

from brainalign.config import ConfigError, validate_config
from brainalign.configfile import load_config_file
from brainalign.input_manifest import InputManifests
from brainalign.plan import StudyPlan
from brainalign.results_lock import ResultsLock, remove_temporaries


# The default study, unless a study config is given with --configfile: that one replaces it whole
# (Snakemake would otherwise merge it into the default and run both studies). --config key=value
# still overrides single keys of either. Snakemake reads config files leniently (a key given twice
# keeps the last): they are read again strictly, so that a duplicate key or a syntax error is an
# error naming its file and line.
for config_path in workflow.overwrite_configfiles or ["config/config.yaml"]:
    load_config_file(config_path)
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# Validate before anything is planned: an unknown key, a wrong type or a missing file is an error
# that names the key, and no job starts.
config.update(validate_config(config, Path(workflow.basedir) / "config" / "schema.yaml"))
PLAN = StudyPlan(config)
MANIFESTS = InputManifests(config)  # external files as inputs, through manifests of their contents
R = config["results_dir"]
RESULTS_LOCK = ResultsLock(R)  # one run at a time in results_dir, from whatever working folder


# Snakemake keeps one handler of each kind: these hold the results lock for the run, clean up after
# killed stages, and keep failed jobs' previous stores (rules/safety.smk).
onstart:
    RESULTS_LOCK.acquire()
    for path in remove_temporaries(R):
        print(f"brainalign: removed {path}, left by a stage that was killed")
    drop_leftover_backups()


onsuccess:
    RESULTS_LOCK.release()


onerror:
    mark_unfinished_updates_incomplete()
    RESULTS_LOCK.release()

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
include: "rules/behaviour.smk"
include: "rules/safety.smk"


rule all:
    input:
        PLAN.similarity_stores(),
        PLAN.banded_stores(),
        f"{R}/summary.csv",
        f"{R}/recovery.csv",
        PLAN.figures(),
        *([f"{R}/meg_summary.csv", f"{R}/meg_recovery.csv", f"{R}/figures/meg_timecourse.png"]
          if PLAN.datasets("meg") else []),
    default_target: True
