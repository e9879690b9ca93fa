"""Which stores a study produces, and where: the paths that the rules and ``rule all`` use.

Layout under ``results_dir`` (``R``)::

    R/stimuli/{stimset}.zarr                    rendered stimuli
    R/features/{stimset}/{model}.zarr           activations, one group per layer
    R/bids/{dataset}/                           simulated BIDS dataset (simulated studies only)
    R/brain/{dataset}/sub-{sub}.zarr            single-trial betas, one group per ROI (``modality: rdm``:
                                                its precomputed RDMs, one group per ROI)
    R/encoding/{dataset}/sub-{sub}/{model}.zarr ridge encoding scores, one group per ROI
    R/rsa/{dataset}/sub-{sub}/{model}.zarr      RSA scores and RDMs
    R/banded/{dataset}/sub-{sub}/{name}.zarr    banded ridge and variance partition (``encoding.banded``)
    R/similarity/{stimset}.zarr                 model-model similarity of every layer pair
    R/decoding/{dataset}/sub-{sub}.zarr         leave-one-run-out decoding (studies with ``decoding``)
    R/scores.zarr                               every score with its bootstrap samples and ceiling
    R/summary.csv, R/summary.html, R/recovery.csv   derived tables
    R/figures/*.png                             figures (see :meth:`StudyPlan.figures`)

MEG/EEG datasets (``modality: meg``)::

    R/meg_raw/{dataset}/sub-{sub}/              simulated raw FIF runs (simulated datasets only)
    R/brain/{dataset}/sub-{sub}.zarr            epochs or averages (trial|stimulus, unit, time)
    R/meg_align/{dataset}/sub-{sub}/{model}.zarr  time-resolved RSA and encoding, one group each
    R/meg_summary.csv, R/meg_recovery.csv, R/figures/meg_timecourse.png

Human judgements (``modality: behaviour``)::

    R/behaviour_raw/{dataset}/triplets.tsv      simulated triplets (simulated datasets only)
    R/behaviour/{dataset}/{model}.zarr          agreement of every layer, gLocal probes
    R/figures/behaviour.png
"""

from __future__ import annotations

import re


def subject_file(pattern: str, subject: str) -> str:
    """The file of ``subject`` from a ``modality: rdm`` dataset's ``rdms`` path (``{subject}``
    replaced; a path without it holds every subject)."""
    return pattern.replace("{subject}", subject)


def rdm_files(spec: dict, subject: str) -> list[str]:
    """Every file read for ``subject`` of a resolved ``modality: rdm`` dataset ``spec``: each ROI's
    RDM file and the ids files."""
    entries = [spec, *spec["rdms"].values()]
    files = [subject_file(entry["file"], subject) for entry in spec["rdms"].values()]
    return sorted(set(files)) + sorted({e["stimulus_ids"] for e in entries if "stimulus_ids" in e})


class StudyPlan:
    """Paths of every store of a validated study config."""

    def __init__(self, config: dict):
        self.config = config
        self.root = config["results_dir"]

    # ------------------------------------------------------------------ naming
    def stimuli_store(self, stimset: str) -> str:
        return f"{self.root}/stimuli/{stimset}.zarr"

    def features_store(self, stimset: str, model: str) -> str:
        return f"{self.root}/features/{stimset}/{model}.zarr"

    def bids_dir(self, dataset: str) -> str:
        spec = self.config["datasets"][dataset]
        return f"{self.root}/bids/{dataset}" if "simulate" in spec else spec["path"]

    def meg_recordings(self, dataset: str, sub: str) -> str:
        """Folder of a subject's MEG/EEG recordings: simulated runs, or the dataset's ``path``."""
        spec = self.config["datasets"][dataset]
        return f"{self.root}/meg_raw/{dataset}/sub-{sub}" if "simulate_meg" in spec else spec["path"]

    def brain_store(self, dataset: str, sub: str) -> str:
        return f"{self.root}/brain/{dataset}/sub-{sub}.zarr"

    def rdm_files(self, dataset: str, sub: str) -> list[str]:
        """The files of a subject's precomputed RDMs (``modality: rdm``), and their ids file."""
        return rdm_files(self.config["datasets"][dataset], sub)

    def result_store(self, method: str, dataset: str, sub: str, model: str) -> str:
        return f"{self.root}/{method}/{dataset}/sub-{sub}/{model}.zarr"

    def similarity_store(self, stimset: str) -> str:
        return f"{self.root}/similarity/{stimset}.zarr"

    # --------------------------------------------------------------- selection
    def models_for(self, stimset: str) -> list[str]:
        """Models that see the stimulus set (its ``models`` key, default every model), in config
        order; validation has checked that the set provides each one's input."""
        chosen = self.config["stimuli"][stimset].get("models", self.config["models"])
        return [m for m in self.config["models"] if m in chosen]

    def datasets(self, modality: str | tuple[str, ...] = "fmri") -> list[str]:
        """Datasets of one modality (``fmri``, ``meg`` or ``rdm``) or of several, in config order."""
        wanted = (modality,) if isinstance(modality, str) else modality
        return [d for d, spec in self.config["datasets"].items() if spec.get("modality", "fmri") in wanted]

    def dataset_pattern(self, modality: str, betas: bool | None = None) -> str:
        """Regular expression matching exactly the dataset names of one modality (a wildcard
        constraint: fMRI and MEG brain stores share the path pattern ``brain/{dataset}/sub-{sub}.zarr``);
        ``betas``: only the fMRI datasets with (True) or without (False) precomputed betas
        (``layout: betas``, rule ``fmri_betas``)."""
        names = [d for d in self.datasets(modality)
                 if betas is None or (self.config["datasets"][d].get("layout") == "betas") == betas]
        return "|".join(re.escape(d) for d in names) if names else "(?!)"

    def stimset_of(self, dataset: str) -> str:
        return self.config["datasets"][dataset]["stimuli"]

    def result_stores(self, method: str, modality: str = "fmri") -> list[str]:
        """Every encoding or RSA store (``meg_align`` with ``modality="meg"``):
        dataset x subject x model. RSA of ``fmri`` also covers the precomputed RDMs of ``rdm``
        datasets."""
        modalities = (modality, "rdm") if method == "rsa" and modality == "fmri" else modality
        return [path for d in self.datasets(modalities) for path in self.dataset_stores(method, d)]

    def decoding_stores(self) -> list[str]:
        """One decoding store per dataset x subject when the study has a ``decoding`` section."""
        if "decoding" not in self.config:
            return []
        return [f"{self.root}/decoding/{d}/sub-{s}.zarr"
                for d in self.datasets() for s in self.config["datasets"][d]["subjects"]]

    def similarity_stores(self) -> list[str]:
        """One similarity store per stimulus set that at least two models can see."""
        return [self.similarity_store(s) for s in self.similarity_sets()]

    def similarity_sets(self) -> list[str]:
        """Stimulus sets that at least two models can see, in config order."""
        return [s for s in self.config["stimuli"] if len(self.models_for(s)) >= 2]

    def dataset_stores(self, method: str, dataset: str) -> list[str]:
        """The encoding or RSA stores of one dataset (subject x model), or its brain stores."""
        subjects = self.config["datasets"][dataset]["subjects"]
        if method == "brain":
            return [self.brain_store(dataset, s) for s in subjects]
        return [self.result_store(method, dataset, s, m) for s in subjects
                for m in self.models_for(self.stimset_of(dataset))]

    def behaviour_files(self, dataset: str) -> list[str]:
        """The judgements file of a behaviour dataset (simulated triplets, or ``judgements.file``),
        then any other file it reads (``judgements.item_ids``)."""
        spec = self.config["datasets"][dataset]
        if "simulate_behaviour" in spec:
            return [f"{self.root}/behaviour_raw/{dataset}/triplets.tsv"]
        return [spec["judgements"]["file"]] + ([spec["judgements"]["item_ids"]] if "item_ids" in spec["judgements"]
                                               else [])

    def behaviour_stores(self) -> list[str]:
        """One store per behaviour dataset x model that sees its stimulus set."""
        return [f"{self.root}/behaviour/{d}/{m}.zarr" for d in self.datasets("behaviour")
                for m in self.models_for(self.stimset_of(d))]

    def banded_stores(self) -> list[str]:
        """One store per fMRI dataset x subject x banded model (``encoding.banded``) whose feature
        spaces' models all see the dataset's stimulus set."""
        out = []
        for name, bands in self.config["encoding"].get("banded", {}).items():
            for d in self.datasets():
                if {b["model"] for b in bands} <= set(self.models_for(self.stimset_of(d))):
                    out += [f"{self.root}/banded/{d}/sub-{s}/{name}.zarr" for s in self.config["datasets"][d]["subjects"]]
        return out

    def figures(self) -> list[str]:
        """Every figure: score by layer; RDMs and brain map per dataset; model x model similarity
        when a stimulus set has two models, and its consistency when two sets have."""
        figures = [f"{self.root}/figures/score_by_layer.png"]
        for d in self.datasets():
            figures += [f"{self.root}/figures/rdms_{d}.png", f"{self.root}/figures/brain_map_{d}.png"]
        figures += [f"{self.root}/figures/rdms_{d}.png" for d in self.datasets("rdm")]
        if self.similarity_sets():
            figures.append(f"{self.root}/figures/model_similarity.png")
        if len(self.similarity_sets()) >= 2:
            figures.append(f"{self.root}/figures/similarity_consistency.png")
        if self.datasets("behaviour"):
            figures.append(f"{self.root}/figures/behaviour.png")
        return figures
