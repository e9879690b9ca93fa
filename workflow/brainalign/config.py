"""Study configuration: defaults, validation against ``config/schema.yaml``, and cross-checks.

:func:`validate_config` is called by the Snakefile before any job is planned. Every problem is
reported as a :class:`ConfigError` whose message names the key at fault (dotted path, e.g.
``models.cnn.layers``), so that a bad config fails at once and says where.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import jsonschema
import yaml

from . import schema, sweeps
from .config_checks import check_study, layer_selected
from .ensemble_config import resolve_ensembles

# Defaults: the `default` annotations of config/schema.yaml (brainalign.schema), the one source.
DEFAULTS = schema.defaults(schema.load_schema())
MODEL_DEFAULTS = schema.defaults(schema.node("$defs", "model"))
GLM_DEFAULTS = schema.defaults(schema.node("datasets", "*", "glm"))
DECODING_DEFAULTS = schema.defaults(schema.node("decoding"))
SIMULATION_DEFAULTS = schema.defaults(schema.node("datasets", "*", "simulate"))
MEG_DEFAULTS = {k: schema.node("datasets", "*", k)["default"] for k in ("datatype", "drop_unknown", "average")}
MEG_SIMULATION_DEFAULTS = schema.defaults(schema.node("datasets", "*", "simulate_meg"))
# Sections that are off when absent keep their defaults here (a schema default would switch them on).
CURVES_DEFAULTS = {"subsets": 5, "methods": ["similarity", "rsa", "encoding"], "n_bootstrap": 100, "ci": 0.95}
PROBE_DEFAULTS = {"Cs": [0.01, 0.1, 1.0, 10.0, 100.0], "outer_folds": 5, "inner_folds": 3, "shots": [1, 5],
                  "n_draws": 50, "fewshot_C": 1.0, "standardize": True, "ci": 0.95, "method": "pearson",
                  "n_permutations": 1000, "n_bootstrap": 1000}
# Keys that belong to one modality only: given for the other, they are an error naming the key.
FMRI_ONLY = ("layout", "derivatives", "space", "res", "bold", "confounds", "rois", "simulate", "glm", "betas",
             "trials")
GLM_ONLY = ("derivatives", "space", "res", "bold", "session", "confounds", "glm", "simulate")
MEG_ONLY = ("files", "datatype", "stimulus_table", "drop_unknown", "average", "events", "preprocessing",
            "simulate_meg")
RDM_ONLY = ("rdms", "stimulus_ids")
BEHAVIOUR_ONLY = ("kind", "judgements", "simulate_behaviour")
ONLY = {"fmri": FMRI_ONLY, "meg": MEG_ONLY, "rdm": RDM_ONLY, "behaviour": BEHAVIOUR_ONLY}
BEHAVIOUR_SIMULATION_DEFAULTS = {"n_triplets": 2000, "repeats": 2, "temperature": 0.3, "dims": 128, "seed": 0}


class ConfigError(ValueError):
    """A study config that cannot run; the message names the key at fault."""


def _dotted(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _schema_message(error: jsonschema.ValidationError) -> str:
    where = _dotted(error.absolute_path)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        keys = ", ".join(f"'{_dotted([*error.absolute_path, k])}'" for k in extra)
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        return f"unknown key {keys} (allowed here: {allowed})"
    if error.validator == "required":
        missing = error.message.split("'")[1]
        return f"missing required key '{_dotted([*error.absolute_path, missing])}'"
    if error.validator == "type":
        return (f"key '{where}' must be of type {error.validator_value}, "
                f"got {error.instance!r} ({type(error.instance).__name__})")
    if error.validator == "enum":
        return f"key '{where}' is {error.instance!r}; allowed values: {error.validator_value}"
    if error.validator == "pattern":
        return (f"key '{where}' is {error.instance!r}, which does not match {error.validator_value!r}"
                + (f" ({error.schema['description']})" if "description" in error.schema else ""))
    return f"key '{where}': {error.message}"


def _merge(defaults: dict, given: dict) -> dict:
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        out[key] = _merge(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) else value
    return out


def shared_data_dir(config: dict) -> str:
    """The shared data folder: ``BRAINALIGN_SHARED_DATA`` if set, else ``config['shared_data']``."""
    return os.environ.get("BRAINALIGN_SHARED_DATA") or config.get("shared_data", DEFAULTS["shared_data"])


def validate_config(config: dict, schema_path) -> dict:
    """Validate ``config`` against the schema and cross-check its references.

    Returns a resolved copy: defaults filled in, ``{shared_data}`` replaced in model paths and in
    dataset and ROI file paths.
    Raises :class:`ConfigError` naming the first key at fault.
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(config),
                    key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        raise ConfigError(f"config: {_schema_message(errors[0])}")
    cfg = _merge(DEFAULTS, config)
    _check_results_dir(cfg["results_dir"], cfg["allow_results_outside"])
    _check_outer_split(cfg["encoding"])
    shared = shared_data_dir(cfg)
    cfg["shared_data"] = shared
    if "decoding" in cfg:
        cfg["decoding"] = _merge(DECODING_DEFAULTS, cfg["decoding"])
    if "curves" in cfg:
        cfg["curves"] = _merge({**CURVES_DEFAULTS, "seed": cfg["seed"]}, cfg["curves"])
    if "probe" in cfg:
        cfg["probe"] = _merge(PROBE_DEFAULTS, cfg["probe"])
        unknown = [s for s in cfg["probe"]["labels"] if s not in cfg["stimuli"]]
        if unknown:
            raise ConfigError(f"config: key 'probe.labels' names stimulus set(s) {unknown}, which are not under "
                              f"'stimuli' ({sorted(cfg['stimuli'])})")
    for name, model in cfg["models"].items():
        model = cfg["models"][name] = _merge(MODEL_DEFAULTS, model)
        _resolve_paths(model, ("weights", "path"), shared)
        if model.get("weights") and model["source"] != "torchvision":  # torchvision: a weights name
            _check_exists(model["weights"], f"models.{name}.weights")
    meg = [d for d, ds in cfg["datasets"].items() if ds.get("modality") == "meg"]
    if meg and cfg["rsa"]["rdm"] in ("mahalanobis", "crossnobis"):
        raise ConfigError(f"config: key 'rsa.rdm' is {cfg['rsa']['rdm']!r}, which time-resolved RSA of the MEG/EEG "
                          f"dataset(s) {meg} does not offer (euclidean, sqeuclidean, correlation, cosine)")
    for name, bands in cfg["encoding"].get("banded", {}).items():
        for k, band in enumerate(bands):
            _check_generator(band, cfg, f"encoding.banded.{name}.{k}")
    for name in cfg["stimuli"]:
        _stimulus_set(name, cfg, shared)
    try:  # a swept dataset becomes its derived datasets, each resolved below (brainalign.sweeps)
        cfg["datasets"] = sweeps.expand(cfg["datasets"], cfg["seed"])
    except ValueError as err:
        raise ConfigError(f"config: {err}") from None
    for name, ds in cfg["datasets"].items():
        where = f"datasets.{name}"
        if ds["stimuli"] not in cfg["stimuli"]:
            raise ConfigError(f"config: key '{where}.stimuli' names stimulus set {ds['stimuli']!r}, "
                              f"which is not under 'stimuli' ({sorted(cfg['stimuli'])})")
        modality = ds.setdefault("modality", "fmri")
        foreign = [(k, other) for other, keys in ONLY.items() if other != modality for k in keys if k in ds]
        if foreign:
            raise ConfigError(f"config: key '{where}.{foreign[0][0]}' does not apply to a {modality} dataset "
                              f"(set '{where}.modality' to {foreign[0][1]}?)")
        if modality == "meg":
            cfg["datasets"][name] = _meg_dataset(ds, cfg, where, shared)
        elif modality == "rdm":
            cfg["datasets"][name] = _rdm_dataset(ds, where, shared)
        elif modality == "behaviour":
            cfg["datasets"][name] = _behaviour_dataset(ds, cfg, where, shared)
        else:
            _fmri_dataset(ds, cfg, where, shared)
    check_study(cfg)
    resolve_ensembles(cfg, ConfigError)
    return cfg


def _check_results_dir(results_dir: str, allow_outside: bool) -> None:
    """``results_dir`` must lie inside the working directory (symlinks resolved), and not be it,
    unless ``allow_results_outside`` is set: a typo such as ``../../etc`` writes nowhere."""
    here, target = Path.cwd().resolve(), Path(results_dir).resolve()
    if target == here:
        raise ConfigError(f"config: key 'results_dir' is {results_dir!r}, the working directory itself; "
                          "give a folder inside it (e.g. 'results')")
    if not allow_outside and here not in target.parents:
        raise ConfigError(f"config: key 'results_dir' is {results_dir!r}, which resolves to {target}, outside "
                          f"the working directory {here}; set 'allow_results_outside: true' to write there")


def _stimulus_set(name: str, cfg: dict, shared: str) -> None:
    """A stimulus set resolved in place (``{shared_data}`` in its paths), its files listed (an
    image folder's table and images: missing or clashing ones fail here), and every model that
    sees it (``models``, default all) given the input it reads."""
    from .stimuli import stimulus_inputs

    spec, where = cfg["stimuli"][name], f"stimuli.{name}"
    _resolve_paths(spec, ("path", "table"), shared)
    if spec["kind"] == "image_folder" and "path" not in spec:
        raise ConfigError(f"config: missing required key '{where}.path' (the folder of images)")
    unknown = [m for m in spec.get("models", []) if m not in cfg["models"]]
    if unknown:
        raise ConfigError(f"config: key '{where}.models' names model(s) {unknown}, which are not under "
                          f"'models' ({sorted(cfg['models'])})")
    try:
        provided = stimulus_inputs(spec)
    except ValueError as err:
        raise ConfigError(f"config: key '{where}': {err}") from None
    for model in spec.get("models", cfg["models"]):
        needed = cfg["models"][model]["input"]
        if needed not in provided:
            key = f"{where}.models" if "models" in spec else f"models.{model}.input"
            hint = (f"give its table a {spec.get('caption_column', 'caption')!r} column or set "
                    f"'{where}.caption_column'; or " if spec["kind"] == "image_folder" and needed == "text" else "")
            raise ConfigError(f"config: key '{key}': model {model!r} reads {needed}, which stimulus set "
                              f"{name!r} ({spec['kind']}) does not have ({hint}list the models that see it "
                              f"under '{where}.models')")


def _check_outer_split(encoding: dict) -> None:
    """``outer_folds`` goes with ``group_kfold`` and ``test_subset`` with ``held_out``, each needing the other."""
    split = encoding.get("outer_split", "leave_one_group_out")
    for key, needs in (("outer_folds", "group_kfold"), ("test_subset", "held_out")):
        if (key in encoding) != (split == needs):
            raise ConfigError(f"config: key 'encoding.{key}' is {'missing' if key not in encoding else 'set'}: "
                              f"it is required with, and only with, encoding.outer_split {needs!r} "
                              f"(here {split!r})")


def _check_generator(gen: dict, cfg: dict, key: str) -> None:
    """A simulated signal's ``model`` and ``layer`` exist in the config."""
    if gen["model"] not in cfg["models"]:
        raise ConfigError(f"config: key '{key}.model' names model {gen['model']!r}, "
                          f"which is not under 'models' ({sorted(cfg['models'])})")
    if not layer_selected(gen["layer"], cfg["models"][gen["model"]], f"models.{gen['model']}"):
        raise ConfigError(f"config: key '{key}.layer' is {gen['layer']!r}, not one of the "
                          f"layers of model {gen['model']!r}")


def _fmri_dataset(ds: dict, cfg: dict, where: str, shared: str) -> None:
    """An fMRI dataset resolved in place: GLM (and simulation) defaults filled, ``{shared_data}``
    replaced in its paths, the files it names checked."""
    if ds.get("layout") == "betas":
        _betas_dataset(ds, where, shared)
        return
    for key in ("betas", "trials"):
        if key in ds:
            raise ConfigError(f"config: key '{where}.{key}' applies to 'layout: betas' only")
    ds["glm"] = _merge(GLM_DEFAULTS, ds.get("glm", {}))
    if "simulate" in ds:
        ds["simulate"] = _merge(SIMULATION_DEFAULTS, ds["simulate"])
        for roi, gen in ds["simulate"]["rois"].items():
            _check_generator(gen, cfg, f"{where}.simulate.rois.{roi}")
        return
    for spec in [ds, *ds.get("rois", {}).values()]:
        _resolve_paths(spec, ("path", "derivatives", "mask", "atlas", "labels"), shared)
    if "path" not in ds:
        raise ConfigError(f"config: missing required key '{where}.path' (a real dataset "
                          f"needs a BIDS path; a simulated one needs '{where}.simulate')")
    _check_exists(ds["path"], f"{where}.path", folder=True)
    if not ds.get("rois"):
        raise ConfigError(f"config: missing required key '{where}.rois'")
    for roi, spec in ds["rois"].items():
        for key in ("mask", "atlas", "labels"):
            if isinstance(spec.get(key), str):
                _check_exists(spec[key], f"{where}.rois.{roi}.{key}")


def _betas_dataset(ds: dict, where: str, shared: str) -> None:
    """A ``layout: betas`` dataset checked in place: its options through the stage's own classes, and
    every file it names for every subject (an error naming the key and the file)."""
    from .brain.betas_config import betas_inputs
    from .brain.betas_io import BetasFormat
    from .brain.betas_trials import TrialOptions

    foreign = [k for k in GLM_ONLY if k in ds]
    if foreign:
        raise ConfigError(f"config: key '{where}.{foreign[0]}' does not apply to 'layout: betas' (precomputed betas)")
    for key in ("path", "betas", "trials", "rois"):
        if not ds.get(key):
            raise ConfigError(f"config: missing required key '{where}.{key}' (layout: betas)")
    for spec in [ds, ds["betas"], ds["trials"], *ds["rois"].values()]:
        _resolve_paths(spec, ("path", "files", "grid", "voxels", "ncsnr", "table", "mask", "atlas", "labels"), shared)
    _check_exists(ds["path"], f"{where}.path", folder=True)
    for key, check in (("betas", BetasFormat.from_spec), ("trials", TrialOptions.from_dict)):
        try:
            check(ds[key])
        except (TypeError, ValueError) as err:
            raise ConfigError(f"config: key '{where}.{key}': {err}") from None
    if BetasFormat.from_spec(ds["betas"]).format != "nifti" and "grid" not in ds["betas"]:
        raise ConfigError(f"config: missing required key '{where}.betas.grid' (a NIfTI image of the betas' voxel grid)")
    keys = {"betas": "betas.files", "trials": "trials.table", "grid": "betas.grid", "voxels": "betas.voxels",
            "ncsnr": "betas.ncsnr", "rois": "rois"}
    for subject in ds["subjects"]:
        try:
            files = betas_inputs(ds, subject)
        except (KeyError, ValueError) as err:
            raise ConfigError(f"config: key '{where}.betas': {err}") from None
        for kind, paths in files.items():
            for path in paths:
                _check_exists(path, f"{where}.{keys[kind]} (subject {subject})", folder=kind == "betas" and
                              ds["betas"].get("format") == "zarr")


def _meg_dataset(ds: dict, cfg: dict, where: str, shared: str) -> dict:
    """A resolved MEG/EEG dataset: defaults filled, ``{shared_data}`` replaced, options checked
    by the stage's own option classes (so that a bad value fails here, naming its key)."""
    from .brain.meg_events import EventOptions
    from .brain.meg_preprocess import PreprocessOptions

    ds = _merge(MEG_DEFAULTS, ds)
    for key, cls in (("events", EventOptions), ("preprocessing", PreprocessOptions)):
        try:
            ds[key] = cls.from_dict(ds.get(key)).to_dict()
        except (TypeError, ValueError) as err:
            raise ConfigError(f"config: key '{where}.{key}': {err}") from None
    if "simulate_meg" in ds:
        if "path" in ds or "files" in ds:
            raise ConfigError(f"config: key '{where}.simulate_meg': give simulate_meg or real recordings "
                              f"('{where}.path'), not both")
        ds["simulate_meg"] = _merge(MEG_SIMULATION_DEFAULTS, ds["simulate_meg"])
        for label, gen in ds["simulate_meg"]["layers"].items():
            _check_generator(gen, cfg, f"{where}.simulate_meg.layers.{label}")
        return ds
    if "path" not in ds:
        raise ConfigError(f"config: missing required key '{where}.path' (real MEG/EEG recordings: a folder, "
                          f"with '{where}.files' patterns or a BIDS dataset; a simulated one needs "
                          f"'{where}.simulate_meg')")
    _resolve_paths(ds, ("path", "stimulus_table"), shared)
    _check_exists(ds["path"], f"{where}.path", folder=True)
    if isinstance(ds.get("stimulus_table"), str):
        _check_exists(ds["stimulus_table"], f"{where}.stimulus_table")
    return ds


def _rdm_dataset(ds: dict, where: str, shared: str) -> dict:
    """A resolved precomputed-RDM dataset: each ROI's ``rdms`` entry as ``{file, key}``,
    ``{shared_data}`` replaced, every subject's file and the ids file checked to exist."""
    from .plan import subject_file

    if "rdms" not in ds:
        raise ConfigError(f"config: missing required key '{where}.rdms' (ROI -> RDM file)")
    ds["rdms"] = {roi: dict(entry) if isinstance(entry, dict) else {"file": entry}
                  for roi, entry in ds["rdms"].items()}
    for roi, entry in ds["rdms"].items():
        _resolve_paths(entry, ("file", "stimulus_ids"), shared)
        for sub in ds["subjects"]:
            _check_exists(subject_file(entry["file"], sub), f"{where}.rdms.{roi}")
        if "stimulus_ids" in entry:
            _check_exists(entry["stimulus_ids"], f"{where}.rdms.{roi}.stimulus_ids")
    _resolve_paths(ds, ("stimulus_ids",), shared)
    if "stimulus_ids" in ds:
        _check_exists(ds["stimulus_ids"], f"{where}.stimulus_ids")
    return ds


def _behaviour_dataset(ds: dict, cfg: dict, where: str, shared: str) -> dict:
    """A resolved human-judgement dataset: simulated triplets (defaults filled, the generating layer
    checked) or a judgements file whose reading conventions are all stated (after its preset)."""
    from .behaviour_io import CHOICES, resolved_format

    if "simulate_behaviour" in ds:
        if ds["kind"] != "triplets" or "judgements" in ds:
            raise ConfigError(f"config: key '{where}.simulate_behaviour' simulates triplets: it needs "
                              f"'{where}.kind: triplets' and no '{where}.judgements'")
        ds["simulate_behaviour"] = _merge(BEHAVIOUR_SIMULATION_DEFAULTS, ds["simulate_behaviour"])
        _check_generator(ds["simulate_behaviour"], cfg, f"{where}.simulate_behaviour")
        return ds
    spec = ds.setdefault("judgements", {})
    if "file" not in spec:
        raise ConfigError(f"config: missing required key '{where}.judgements.file' (or simulate triplets with "
                          f"'{where}.simulate_behaviour')")
    _resolve_paths(spec, ("file", "item_ids"), shared)
    _check_exists(spec["file"], f"{where}.judgements.file")
    if "item_ids" in spec:
        _check_exists(spec["item_ids"], f"{where}.judgements.item_ids")
    fmt = resolved_format(spec)
    needed = ["item_base"] + (["choice"] if ds["kind"] in CHOICES else [])
    missing = [k for k in needed if k not in fmt]
    if missing:
        raise ConfigError(f"config: missing required key '{where}.judgements.{missing[0]}': state it (never "
                          f"guessed; or use a preset)")
    if ds["kind"] in CHOICES and fmt["choice"] not in CHOICES[ds["kind"]]:
        raise ConfigError(f"config: key '{where}.judgements.choice' is {fmt['choice']!r}, which {ds['kind']} "
                          f"judgements do not offer ({list(CHOICES[ds['kind']])})")
    return ds


def _resolve_paths(spec: dict, keys, shared: str) -> None:
    """Replace ``{shared_data}`` by ``shared`` in the string values of ``keys`` of ``spec``."""
    for key in keys:
        if isinstance(spec.get(key), str):
            spec[key] = spec[key].replace("{shared_data}", shared)


def _check_exists(path: str, key: str, folder: bool = False) -> None:
    """ConfigError naming ``key`` unless ``path`` is an existing file (or folder)."""
    if not (Path(path).is_dir() if folder else Path(path).is_file()):
        raise ConfigError(f"config: key '{key}': {'folder' if folder else 'file'} {path} does not exist")
