# A failed stage never costs the finished store it was replacing.
#
# Snakemake deletes a job's outputs before the job runs, so a config edit that makes a stage fail
# (a layer that does not exist, a value that breaks the stage) used to leave no store at all. Every
# store output is flagged `update(...)`: Snakemake then leaves the old store in place while the job
# runs (the stage writes a temporary sibling and renames it over the old store only once complete,
# `brainalign.store.atomic_directory`) and, should the job fail, restores the copy it kept under
# `.snakemake/` and says so ("Restored previous version of ...").
#
# Snakemake records the failed job's params for the restored store, so a rerun of the same config
# would then take the old store for a result of the new config. The handler below marks the outputs
# of every job that did not finish incomplete instead: the next run reruns them (`rerun-incomplete`
# in profiles/default) or, without that setting, refuses to go on until they are rerun; the old
# store stays readable in the meantime.
#
# A run killed while such a job ran leaves Snakemake's copy behind, and Snakemake then fails the
# job's next run (it will not copy over an existing backup): at start, the copies kept for
# stores that are still in place are dropped.
#
# Snakemake keeps one onstart and one onerror handler: the Snakefile's call these functions.
from snakemake.io import is_flagged


def _existing_updates():
    """The existing `update` outputs of the jobs this run will execute."""
    return [
        Path(f)
        for job in workflow.dag.needrun_jobs()
        for f in job.output
        if is_flagged(f, "update") and os.path.exists(f)
    ]


def drop_leftover_backups():
    """Remove Snakemake's backups of stores that are in place (left by a killed run)."""
    for path in _existing_updates():
        workflow.persistence.cleanup_backup(path)


def mark_unfinished_updates_incomplete():
    """Mark as incomplete the existing `update` outputs of every job of this run that did not finish."""
    for job in workflow.dag.needrun_jobs():
        if any(is_flagged(f, "update") and os.path.exists(f) for f in job.output):
            workflow.persistence.started(job)
