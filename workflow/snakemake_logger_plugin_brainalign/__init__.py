"""brainalign's quiet terminal for Snakemake (``--logger brainalign``, set in profiles/default).

The table of the jobs to run (per rule) at the start, then one line per finished job, naming what
it produced: ``[12:03:04] 5/51 rsa: results/rsa/...zarr``.
Job errors, warnings and Snakemake's own messages are shown as Snakemake shows them; the rule
blocks, shell commands (the stages' whole config as JSON) and scheduler chatter are not. A dry run
(``-n``) shows its plan as Snakemake does.
``--workflow-profile profiles/verbose`` shows everything, with the shell commands.
"""

from __future__ import annotations

import re
import sys
import time
from logging import INFO, LogRecord

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent

# Snakemake's scheduling messages, which say nothing a finished-job line does not.
CHATTER = re.compile(r"^(Building DAG of jobs|Using shell:|Provided (cores|resources)|Rules claiming more threads|"
                     r"Select jobs to execute|Execute \d+ jobs|Assuming unrestricted shared filesystem|"
                     r"host:|Job stats:|Singularity containers|Conda environments|Removing temporary output|"
                     r"Touching output file|Storing output in storage|Waiting at most|Workflow defines that rule|\s*$)")

# Snakemake's annotation of a flagged output in its job records (``path (update)``): not part of the path.
FLAG_NOTE = re.compile(r" \((?:update|before update|pipe|service|nodelocal|cached|access: [^()]*)\)$")


def finished_line(done: int, total: int, rule: str, outputs, when: float | None = None) -> str:
    """``[HH:MM:SS] done/total rule: output, ...`` (outputs abbreviated past three)."""
    outputs = [FLAG_NOTE.sub("", str(path)) for path in outputs]
    shown = ", ".join(outputs[:3]) + (f" (+{len(outputs) - 3} more)" if len(outputs) > 3 else "")
    return f"[{time.strftime('%H:%M:%S', time.localtime(when))}] {done}/{total} {rule}: {shown or '(no output)'}"


class LogHandler(LogHandlerBase):
    """Snakemake's default formatter and filter, less the per-job blocks and chatter."""

    def __post_init__(self) -> None:
        from snakemake.logging import DefaultFilter, DefaultFormatter

        settings = self.common_settings
        self.default_filter = DefaultFilter(settings.quiet, settings.debug_dag, settings.verbose, settings.dryrun,
                                            settings.printshellcmds)
        self.setFormatter(DefaultFormatter(settings.quiet, settings.show_failed_logs))
        self.stream = sys.stdout if settings.stdout else sys.stderr
        self.jobs: dict[int, tuple[str, list]] = {}
        self.finished: list[int] = []

    def emit(self, record: LogRecord) -> None:
        try:
            text = self._text(record)
            if text:
                self.stream.write(text + "\n")
                self.stream.flush()
        except Exception:  # noqa: BLE001 -- logging must not end the run
            self.handleError(record)

    def _text(self, record: LogRecord) -> str | None:
        event = getattr(record, "event", None)
        if self.common_settings.dryrun:  # a dry run shows the whole plan, as Snakemake does
            return self.format(record) if self.default_filter.filter(record) else None
        if event == LogEvent.JOB_INFO:
            self.jobs[record.jobid] = (record.rule_name, list(record.output))
            return None
        if event == LogEvent.JOB_FINISHED:
            self.finished.append(record.job_id)
            return None
        if event == LogEvent.PROGRESS:
            lines = [finished_line(record.done, record.total, *self.jobs.get(j, ("job", [])), when=record.created)
                     for j in self.finished]
            self.finished.clear()
            return "\n".join(lines)
        if event == LogEvent.JOB_STARTED:  # "Execute 2 jobs...": the finished-job lines say it
            return None
        if event in (LogEvent.SHELLCMD, LogEvent.GROUP_INFO, LogEvent.RESOURCES_INFO, LogEvent.WORKFLOW_STARTED):
            return None if not (event == LogEvent.SHELLCMD and self.common_settings.printshellcmds) else \
                self.format(record)
        if not self.default_filter.filter(record):
            return None
        if event is None and record.levelno <= INFO and CHATTER.match(str(record.msg or "").strip()):
            return None
        return self.format(record)

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return True

    @property
    def has_formatter(self) -> bool:
        return True

    @property
    def needs_rulegraph(self) -> bool:
        return False
