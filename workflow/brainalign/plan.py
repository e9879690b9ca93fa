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
    R/probe/{stimset}/{model}.zarr              linear and n-shot probes of every layer (studies with ``probe``)
    R/probe_compare/*.csv                       similarity across sets and against probe accuracy (``probe``)
    R/scores.zarr                               every score with its bootstrap samples and ceiling
    R/summary.csv, R/summary.html, R/recovery.csv   derived tables
    R/sweep.csv, R/figures/sweep_{base}.png     noise curves of swept datasets (brainalign.sweeps)
    R/figures/*.png                             figures (see :meth:`StudyPlan.figures`)
    R/curves/similarity/{stimset}.zarr          sample-size curves (``curves``): model-model similarity,
    R/curves/{rsa,encoding}/{dataset}/sub-{sub}/{model}.zarr   RSA and encoding; R/curves.csv and
                                                R/figures/curves/<the store's path under curves/>.png

Trained ensembles (``ensembles``)::

    R/ensembles/{name}/snr-{snr}_n-{n_train}_w-{width}/seed-{seed}.pt    a member's checkpoint
    R/ensembles/{name}/snr-{snr}_n-{n_train}_w-{width}/seed-{seed}.zarr  its layers on the probe set
    R/ensembles/{name}.zarr                     alignment among members and test error per cell
    R/ensembles.csv, R/figures/ensembles.png

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

import itertools
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
        return f"{self.root}/brain/{self.brain_dataset(dataset)}/sub-{sub}.zarr"

    def brain_dataset(self, dataset: str) -> str:
        """The dataset whose brain stores ``dataset`` reads: its base for a ``noise`` dataset
        (noise is added as the stages read), itself otherwise."""
        spec = self.config["datasets"][dataset]
        return spec["derived_from"]["dataset"] if "noise" in spec else dataset

    def noise_spec(self, dataset: str) -> dict:
        """``{"noise": ...}`` for the encoding and RSA specs of a ``noise`` dataset, else {}."""
        spec = self.config["datasets"][dataset]
        return {"noise": spec["noise"]} if "noise" in spec else {}

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
        names = [d for d in self.datasets(modality) if self.brain_dataset(d) == d
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
                for d in self.datasets() if self.brain_dataset(d) == d  # not noise datasets: no added noise
                for s in self.config["datasets"][d]["subjects"]]

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

    def probe_store(self, stimset: str, model: str) -> str:
        return f"{self.root}/probe/{stimset}/{model}.zarr"

    def probe_stores(self) -> list[str]:
        """One probe store per labelled stimulus set (``probe.labels``) x model that sees it."""
        labels = self.config.get("probe", {}).get("labels", {})
        return [self.probe_store(s, m) for s in self.config["stimuli"] if s in labels for m in self.models_for(s)]

    def probe_figures(self) -> dict[str, str]:
        """The figures of stage ``probe_compare`` (studies with ``probe``): consistency across sets,
        similarity against the probe-accuracy gap, and human alignment against few-shot accuracy
        when the study has behaviour datasets."""
        if "probe" not in self.config:
            return {}
        figures = {"consistency": "similarity_sets", "gap": "similarity_gap"}
        if self.datasets("behaviour"):
            figures["alignment"] = "alignment_fewshot"
        return {kind: f"{self.root}/figures/{name}.png" for kind, name in figures.items()}

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
                if self.brain_dataset(d) != d:  # a noise dataset: banded ridge adds no noise
                    continue
                if {b["model"] for b in bands} <= set(self.models_for(self.stimset_of(d))):
                    out += [f"{self.root}/banded/{d}/sub-{s}/{name}.zarr" for s in self.config["datasets"][d]["subjects"]]
        return out

    def curve_stores(self) -> list[str]:
        """The sample-size curve stores of the ``curves`` section's methods (none without it): one
        per similarity stimulus set, one per RSA or encoding store."""
        if "curves" not in self.config:
            return []
        methods = self.config["curves"]["methods"]
        out = [f"{self.root}/curves/similarity/{s}.zarr" for s in self.similarity_sets()] if "similarity" in methods else []
        for method in ("rsa", "encoding"):
            if method in methods:
                out += [f"{self.root}/curves/{p[len(self.root) + 1:]}" for p in self.result_stores(method)]
        return out

    def curve_outputs(self) -> list[str]:
        """``curves.csv`` and one figure per curve store (none without a ``curves`` section)."""
        if "curves" not in self.config:
            return []
        prefix = f"{self.root}/curves/"
        return [f"{self.root}/curves.csv"] + [f"{self.root}/figures/curves/{p[len(prefix):-len('.zarr')]}.png"
                                              for p in self.curve_stores()]

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
        return figures + list(self.probe_figures().values())

    # ------------------------------------------------------------ trained ensembles
    def ensembles(self) -> list[str]:
        """The trained ensembles (``ensembles``), in config order."""
        return list(self.config.get("ensembles", {}))

    def ensemble_member(self, name: str, snr, n_train, width, seed) -> str:
        """Path of one member without suffix (``.pt`` checkpoint, ``.zarr`` probe-set layers)."""
        return f"{self.root}/ensembles/{name}/snr-{float(snr):g}_n-{n_train}_w-{width}/seed-{seed}"

    def ensemble_grid(self, name: str) -> list[tuple]:
        """Every member ``(snr, n_train, width, seed)`` of an ensemble."""
        spec = self.config["ensembles"][name]
        return list(itertools.product(spec["snr"], spec["n_train"], spec["width"], spec["seeds"]))

    def ensemble_member_spec(self, name: str, snr: str, n_train: str, width: str, seed: str) -> dict:
        """The spec of the member whose path wildcards are given (``snr`` as in its path)."""
        from .ensemble_config import member_spec

        for point in self.ensemble_grid(name):
            if self.ensemble_member(name, *point) == self.ensemble_member(name, snr, n_train, width, seed):
                return member_spec(self.config["ensembles"][name], *point)
        raise ValueError(f"ensembles.{name}: no member snr={snr} n_train={n_train} width={width} seed={seed}")

    def ensemble_teacher(self, name: str) -> list[str]:
        """The teacher's features store of an ensemble with ``task.teacher`` (none with ``task.column``)."""
        spec = self.config["ensembles"][name]
        teacher = spec["task"].get("teacher")
        return [self.features_store(spec["stimuli"], teacher["model"])] if teacher else []

    def ensemble_store(self, name: str) -> str:
        return f"{self.root}/ensembles/{name}.zarr"

    def ensemble_outputs(self) -> list[str]:
        """The ensembles' table and figure, when the study has ensembles."""
        return [f"{self.root}/ensembles.csv", f"{self.root}/figures/ensembles.png"] if self.ensembles() else []

    # ------------------------------------------------------------------ sweeps
    def sweeps(self) -> dict[str, dict[str, dict]]:
        """``{base: {dataset: {key: value}}}`` for every swept dataset (:mod:`brainalign.sweeps`),
        in config order; a ``noise`` sweep's base is its point of infinite SNR."""
        out: dict[str, dict[str, dict]] = {}
        for name, spec in self.config["datasets"].items():
            if "derived_from" in spec:
                base, values = spec["derived_from"]["dataset"], spec["derived_from"]["values"]
                points = out.setdefault(base, {})
                if "noise" in spec and base in self.config["datasets"] and not points:
                    points[base] = {key: float("inf") for key in values}
                points[name] = values
        return out

    def sweep_outputs(self) -> list[str]:
        """``sweep.csv`` and one figure per swept dataset, when the study has a sweep."""
        if not self.sweeps():
            return []
        return [f"{self.root}/sweep.csv", *(f"{self.root}/figures/sweep_{b}.png" for b in self.sweeps())]
