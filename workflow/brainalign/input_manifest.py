"""Content manifests: the Snakemake input that stands for the external files a job reads.

Snakemake reruns a job when one of its inputs is newer than its outputs, when the set of its
inputs changes, or when its params change. For files from outside the workflow (images, stimulus
tables, model weights, BIDS files, masks, atlases) a file's modification time is a poor signal:
touching or copying a file changes it without changing the data, and a folder given as an input
changes its time only when the entries directly in it change, not when a file inside is edited.

So a job that reads external files takes, in their stead, one **manifest**: a JSON file listing
each file's path, size and SHA-256, written when Snakemake plans the job (evaluates its inputs)
and rewritten **only when that list changes**. Hence:

* editing, adding or removing one of the files changes the manifest, which is then newer than
  the job's outputs: the job reruns, and so does everything downstream of its outputs;
* touching a file, or replacing it by an identical copy, leaves the manifest untouched: nothing
  reruns ("Nothing to be done");
* each job has its own manifest of exactly the files it reads (a subject's runs and the ROI files,
  a stimulus set's table and images, a model's weights), so a change reruns no unrelated job;
* a job that needs only a stimulus set's ids (the GLM) reads them from a list written the same
  way (:meth:`InputManifests.stimulus_ids`), not from the rendered set: an image edited in place
  does not rerun it, an image added or removed does.

Snakemake also records the checksum of each small input (below ``--max-checksum-file-size``,
1 MB by default) and does not rerun a job whose newer input has the checksum it had when the job
ran; so a manifest changed and changed back (an image added, then removed) reruns nothing. A
manifest of tens of thousands of files is larger than that: writing it only when its contents
change is what keeps it from triggering reruns then.

A file is hashed again only when its ``(size, mtime_ns, ctime_ns, inode)`` differs from the one
recorded when it was last hashed (a cache beside the manifest, ``.<name>.stat.json``; the hash
is :func:`brainalign.store.content_hash`: SHA-256 of the file's name and bytes), as git's
index does, so planning a study of large unchanged files reads none of them; the first planning
reads every file once (SHA-256, about 1 GB/s from a fast disk). A dry run
(``snakemake -n``) plans too, so it brings the manifests up to date and reports the jobs a real
run would then run.

Manifests live under ``<results_dir>/manifests/``, named ``*.manifest.json`` (:class:`InputManifests`).
"""

from __future__ import annotations

import importlib.resources
import json
import os
from pathlib import Path

from .store import atomic_file, content_hash

SUFFIX = ".manifest.json"


def _stat_key(path: Path) -> list[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def write_if_changed(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (atomically) unless the file already holds it."""
    if not path.is_file() or path.read_text() != text:
        atomic_file(path, lambda tmp: tmp.write_text(text))
    return path


def write_manifest(path, files) -> Path:
    """Write the manifest ``path`` of ``files`` (paths as given, sorted), unless it already holds
    exactly their sizes and hashes; return ``path``. A missing file is an error naming it."""
    path = Path(path)
    cache_path = path.with_name(f".{path.name.removesuffix(SUFFIX)}.stat.json")
    cache = _read_json(cache_path)
    entries, new_cache = {}, {}
    for f in sorted({str(f) for f in files}):
        if not Path(f).is_file():
            raise FileNotFoundError(f"input file {f} does not exist")
        key = _stat_key(Path(f))
        known = cache.get(f)
        digest = known["sha256"] if known and known["stat"] == key else content_hash(f)
        new_cache[f] = {"stat": key, "sha256": digest}
        entries[f] = {"size": key[0], "sha256": digest}
    write_if_changed(path, json.dumps({"files": entries}, indent=1, sort_keys=True) + "\n")
    if new_cache != cache:
        atomic_file(cache_path, lambda tmp: tmp.write_text(json.dumps(new_cache, sort_keys=True)))
    return path


def manifest_bytes(path) -> int:
    """Total size of the files a manifest lists (to size a job's resources)."""
    return sum(e["size"] for e in _read_json(Path(path)).get("files", {}).values())


def _folder_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def model_files(spec: dict) -> list[Path]:
    """Files a model's weights come from: its ``weights`` file, and a ``huggingface`` model's
    local folder or ``package:<module>/<subdir>`` folder (models fetched by name from a hub
    cache belong to the software environment and are not listed)."""
    files = [Path(spec["weights"])] if spec.get("weights") else []
    path = spec.get("path") if spec["source"] == "huggingface" else None
    if path and path.startswith("package:"):
        package, _, subdir = path.removeprefix("package:").partition("/")
        folder = Path(str(importlib.resources.files(package).joinpath(subdir)))
        files += _folder_files(folder)
    elif path and Path(path).expanduser().is_dir():
        files += _folder_files(Path(path).expanduser())
    return files


def subject_files(spec: dict, subject: str) -> list[Path]:
    """Files an fMRI dataset's subject is read from: every file of its runs (BOLD, events, the
    sidecar giving the TR, confounds, brain mask, motion estimates) and the ROI files (masks,
    atlases, label tables)."""
    from .stages.fmri import find_runs

    files = []
    for run in find_runs(spec, Path(spec["path"]), subject):
        files += [p for p in (run.bold, run.events, run.tr_source, run.confounds, run.mask, run.motion) if p]
    for roi in spec.get("rois", {}).values():
        files += [Path(roi[k]) for k in ("mask", "atlas", "labels") if k in roi]
    return files


def meg_subject_files(spec: dict, subject: str) -> list[Path]:
    """Files a real MEG/EEG dataset's subject is read from: with ``files`` patterns, the
    recordings they match (a CTF ``.ds`` folder's files; a FIF file's ``-1.fif``, ``-2.fif``
    continuation parts); in a BIDS dataset, every file of the subject's folder and the dataset's
    top-level files (``mne_bids`` reads sidecars, channel and event tables beside each run); and
    a ``stimulus_table`` file."""
    root, files = Path(spec["path"]), []
    if "files" in spec:
        from .stages.meg import find_recordings

        for path in map(Path, find_recordings(spec, root, subject)):
            if path.is_dir():
                files += _folder_files(path)
            else:
                files += [path, *sorted(path.parent.glob(f"{path.name.removesuffix('.fif')}-[0-9]*.fif"))]
    else:
        files += [p for p in root.iterdir() if p.is_file() and not p.name.startswith(".")]
        files += _folder_files(root / f"sub-{subject.removeprefix('sub-')}")
    if isinstance(spec.get("stimulus_table"), str):
        files.append(Path(spec["stimulus_table"]))
    return files


class InputManifests:
    """The manifest (a one-element list, or an empty list when the job reads no external file) of
    each job that reads external files, brought up to date when asked for. Rules use these as
    input functions; one instance per Snakemake run (each manifest is written once per run)."""

    def __init__(self, config: dict):
        self.config = config
        self.root = Path(config["results_dir"]) / "manifests"
        self._done: dict[Path, list[str] | str] = {}  # what each manifest or list asked for returned

    def _manifest(self, path: Path, list_files) -> list[str]:
        if path not in self._done:
            files = list_files()
            self._done[path] = [str(write_manifest(path, files))] if files else []
        return self._done[path]

    def stimuli(self, stimset: str) -> list[str]:
        """An image folder's table and images."""
        from .image_folder import input_files

        spec = self.config["stimuli"][stimset]
        return self._manifest(self.root / "stimuli" / f"{stimset}{SUFFIX}",
                              lambda: input_files(spec) if spec["kind"] == "image_folder" else [])

    def stimulus_ids(self, stimset: str) -> str:
        """A JSON list of the set's stimulus ids (:func:`brainalign.stimuli.stimulus_ids`): the input
        of the jobs that need only the ids (the GLM checks its events against them), so that an
        image edited in place reruns no GLM, while an image added or removed does."""
        from .stimuli import stimulus_ids

        path = self.root / "stimuli" / f"{stimset}.ids.json"
        if path not in self._done:
            ids = stimulus_ids(self.config["stimuli"][stimset])
            self._done[path] = str(write_if_changed(path, json.dumps(ids, indent=0) + "\n"))
        return self._done[path]

    def model(self, model: str) -> list[str]:
        """A model's weights files (:func:`model_files`)."""
        return self._manifest(self.root / "models" / f"{model}{SUFFIX}",
                              lambda: model_files(self.config["models"][model]))

    def meg(self, dataset: str, subject: str) -> list[str]:
        """A real MEG/EEG dataset's subject (:func:`meg_subject_files`); none for a simulated one,
        whose runs are the output of a rule."""
        spec = self.config["datasets"][dataset]
        return self._manifest(self.root / "meg" / dataset / f"sub-{subject}{SUFFIX}",
                              lambda: [] if "simulate_meg" in spec else meg_subject_files(spec, subject))

    def write_all(self) -> None:
        """Bring every manifest the config implies up to date now, before Snakemake builds its DAG.

        Snakemake caches what each input folder holds the first time it looks; a manifest written
        later by an input function (a second model's, say) would then be reported missing. Writing
        them all at parse time leaves nothing to appear during the DAG's construction."""
        for stimset in self.config.get("stimuli", {}):
            self.stimuli(stimset)
        for model in self.config.get("models", {}):
            self.model(model)
        for dataset, spec in self.config.get("datasets", {}).items():
            kind = spec.get("modality", "fmri")
            if kind == "fmri":
                self.stimulus_ids(spec["stimuli"])
            if kind == "meg" or (kind == "fmri" and spec.get("layout") != "betas"):  # as rules/fmri.smk, meg.smk
                for subject in spec.get("subjects", []):
                    getattr(self, kind)(dataset, subject)

    def fmri(self, dataset: str, subject: str) -> list[str]:
        """A real fMRI dataset's subject (:func:`subject_files`); none for a simulated one, whose
        BIDS folder is the output of a rule."""
        spec = self.config["datasets"][dataset]
        return self._manifest(self.root / "fmri" / dataset / f"sub-{subject}{SUFFIX}",
                              lambda: [] if "simulate" in spec else subject_files(spec, subject))
