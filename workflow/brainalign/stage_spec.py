"""What each stage command takes as ``--spec``: its keys and defaults, from ``config/schema.yaml``.

The rules pass every stage its resolved config section as JSON. By hand, a partial spec will do:
:func:`complete_spec` fills in the schema's defaults (``brainalign rsa --spec '{}'`` runs with
``rdm: correlation, comparator: spearman, n_bootstrap: 100``), and a dataset or model entry is taken
as written in a study config (``{shared_data}`` replaced, its sections' defaults filled). The same
description gives the key list of ``brainalign <stage> --help`` (:func:`spec_help`).
"""

from __future__ import annotations

import copy

from . import config as study
from . import schema
from .brain.meg_events import EventOptions
from .brain.meg_preprocess import PreprocessOptions

# Keys of the encoding section that the encoding stages do not take (rules/encoding.smk).
ENCODING_LEFT_OUT = ("unit_jobs", "banded")
# banded takes alphas and inner_folds of the encoding section (rules/banded.smk)
BANDED_LEFT_OUT = tuple(k for k in schema.node("encoding")["properties"] if k not in ("alphas", "inner_folds"))
SECTION_DEFAULTS = {**study.DEFAULTS, "decoding": study.DECODING_DEFAULTS}

# Each stage's spec: ("flat", section, left out) merges a config section's keys into the spec;
# ("nested", section) takes a section under its own key; ("entry", kind) is one config entry
# (a model, a stimulus set, a dataset of a modality); ("labels", keys) are the store's labels.
STAGES = {
    "stimuli": [("entry", "stimuli")],
    "features": [("entry", "model")],
    "simulate": [("entry", "fmri")],
    "fmri": [("entry", "fmri")],
    "rdms": [("entry", "rdm")],
    "simulate_meg": [("entry", "meg")],
    "meg": [("entry", "meg")],
    "encoding": [("flat", "encoding", ENCODING_LEFT_OUT), ("labels", ("dataset", "subject", "model"))],
    "gather": [("flat", "encoding", ENCODING_LEFT_OUT), ("labels", ("dataset", "subject", "model"))],
    "roi_rdms": [("flat", "rsa", ()), ("labels", ("dataset", "subject"))],
    "rsa": [("flat", "rsa", ()), ("labels", ("dataset", "subject", "model"))],
    "meg_align": [("flat", "rsa", ()), ("flat", "encoding", ENCODING_LEFT_OUT), ("flat", "time_resolved", ()),
                  ("labels", ("dataset", "subject", "model"))],
    "banded": [("bands",), ("flat", "encoding", BANDED_LEFT_OUT), ("labels", ("dataset", "subject", "name"))],
    "decode": [("flat", "decoding", ()), ("labels", ("dataset", "subject"))],
    "similarity": [("flat", "similarity", ())],
    "summarize": [("datasets",), ("nested", "inference"), ("nested", "results_dir")],
    "meg_summarize": [("datasets",), ("flat", "time_resolved", ())],
}
ENTRY_ABOUT = {"stimuli": "one entry of 'stimuli' in a study config", "model": "one entry of 'models'",
               "fmri": "one fMRI dataset entry of 'datasets'", "meg": "one MEG/EEG dataset entry of 'datasets'",
               "rdm": "one precomputed-RDM dataset entry of 'datasets' (modality: rdm)"}


def _entry_schema(kind: str) -> tuple[dict, tuple]:
    """The schema of one config entry of ``kind``, and the keys that do not apply to it."""
    if kind == "stimuli":
        return schema.node("stimuli", "*"), ()
    if kind == "model":
        return schema.node("$defs", "model"), ()
    left_out = tuple(k for other, keys in study.ONLY.items() if other != kind for k in keys)
    return schema.node("datasets", "*"), left_out


def complete_spec(stage: str, spec: dict) -> dict:
    """``spec`` with the defaults of ``stage``'s keys filled in (the given values win)."""
    out = copy.deepcopy(spec)
    for part in STAGES.get(stage, []):
        if part[0] == "flat":
            section = {k: v for k, v in SECTION_DEFAULTS[part[1]].items() if k not in part[2]}
            out = study._merge(section, out)
        elif part[0] == "nested" and part[1] in study.DEFAULTS:
            default = study.DEFAULTS[part[1]]
            out[part[1]] = study._merge(default, out.get(part[1], {})) if isinstance(default, dict) else \
                out.get(part[1], default)
        elif part[0] == "entry":
            out = complete_entry(part[1], out)
    return out


def complete_entry(kind: str, entry: dict) -> dict:
    """A config entry as written (a model, a stimulus set, a dataset) resolved as the study config
    resolves it: ``{shared_data}`` replaced in its paths, the defaults of its sections filled."""
    shared = study.shared_data_dir({})
    entry = copy.deepcopy(entry)
    if kind == "model":
        entry = study._merge(study.MODEL_DEFAULTS, entry)
        study._resolve_paths(entry, ("weights", "path"), shared)
    elif kind == "stimuli":
        study._resolve_paths(entry, ("path", "table"), shared)
    elif kind == "meg":
        entry = study._merge(study.MEG_DEFAULTS, {"modality": "meg", **entry})
        for key, cls in (("events", EventOptions), ("preprocessing", PreprocessOptions)):
            entry[key] = cls.from_dict(entry.get(key)).to_dict()
        if "simulate_meg" in entry:
            entry["simulate_meg"] = study._merge(study.MEG_SIMULATION_DEFAULTS, entry["simulate_meg"])
        study._resolve_paths(entry, ("path", "stimulus_table"), shared)
    elif kind == "rdm":
        entry["rdms"] = {roi: dict(e) if isinstance(e, dict) else {"file": e} for roi, e in entry.get("rdms", {}).items()}
        for e in [entry, *entry["rdms"].values()]:
            study._resolve_paths(e, ("file", "stimulus_ids"), shared)
    elif kind == "fmri" and entry.get("layout") != "betas":
        entry["glm"] = study._merge(study.GLM_DEFAULTS, entry.get("glm", {}))
        if "simulate" in entry:
            entry["simulate"] = study._merge(study.SIMULATION_DEFAULTS, entry["simulate"])
        for e in [entry, *entry.get("rois", {}).values()]:
            study._resolve_paths(e, ("path", "derivatives", "mask", "atlas", "labels"), shared)
    return entry


def spec_help(stage: str) -> str | None:
    """The ``--help`` text of ``stage``'s spec keys (None for a stage without a described spec)."""
    if stage not in STAGES:
        return None
    lines = ["--spec keys (a JSON object; a key left out takes the default shown, from config/schema.yaml):"]
    for part in STAGES[stage]:
        if part[0] == "flat":
            section = schema.node(part[1])
            lines += [f"  from the config section '{part[1]}':"]
            lines += [line for key, line in zip(section["properties"], schema.key_lines(section))
                      if key not in part[2]]
        elif part[0] == "nested":
            entry = schema.node(part[1])
            if "properties" in entry:
                lines += [f"  {part[1]}: the config section '{part[1]}':"] + schema.key_lines(entry, prefix=f"{part[1]}.")
            else:
                lines += schema.key_lines({"properties": {part[1]: entry}})
        elif part[0] == "entry":
            entry, left_out = _entry_schema(part[1])
            lines += [f"  {ENTRY_ABOUT[part[1]]}, as written there:"]
            lines += [line for key, line in zip(entry["properties"], schema.key_lines(entry)) if key not in left_out]
        elif part[0] == "bands":
            lines += ["  bands (required)  [array]  the feature spaces: [{model: NAME, layer: LAYER}, ...], "
                      "as an entry of encoding.banded"]
        elif part[0] == "datasets":
            lines += ["  datasets (required)  [object]  the study's 'datasets' section (name -> entry)"]
        elif part[0] == "labels":
            lines += [f"  {', '.join(part[1])}  [string]  labels written to the output store's attributes "
                      "(optional)"]
    return "\n".join(lines)
