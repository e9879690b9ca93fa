# brainalign: a reproducible brain-model alignment study, from stimuli to a report.
# Run `snakemake --cores 2` (the profile in profiles/default is loaded automatically).
# Every stage writes one Zarr store under `results_dir`; see README.md and ../shared/DESIGN.md.

import os
from pathlib import Path

from brainalign.config import ConfigError, validate_config
from brainalign.plan import StudyPlan


# The default study, unless a study config is given with --configfile: that one replaces it whole
# (Snakemake would otherwise merge it into the default and run both studies). --config key=value
# still overrides single keys of either.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# Validate before anything is planned: an unknown key, a wrong type or a missing file is an error
# that names the key, and no job starts.
config.update(validate_config(config, Path(workflow.basedir) / "config" / "schema.yaml"))
PLAN = StudyPlan(config)
R = config["results_dir"]

report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/stimuli.smk"
include: "rules/features.smk"
include: "rules/simulate.smk"
include: "rules/fmri.smk"
include: "rules/encoding.smk"
include: "rules/rsa.smk"
include: "rules/similarity.smk"
include: "rules/meg.smk"
include: "rules/report.smk"
include: "rules/decode.smk"
include: "rules/safety.smk"


rule all:
    input:
        PLAN.similarity_stores(),
        f"{R}/summary.csv",
        f"{R}/recovery.csv",
        PLAN.figures(),
        *([f"{R}/meg_summary.csv", f"{R}/meg_recovery.csv", f"{R}/figures/meg_timecourse.png"]
          if PLAN.datasets("meg") else []),
    default_target: True
