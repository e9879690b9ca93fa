# Helpers shared by the rules: a stage's resolved config as JSON for `brainalign <stage> --spec`,
# and job resources sized from the data (README, "Running on a cluster").
import json
import math
import shlex
from pathlib import Path

from brainalign.errors import InputError, damaged_store_message
from brainalign.input_manifest import SUFFIX as MANIFEST_SUFFIX, manifest_bytes
from brainalign.job_resources import (
    roi_rdms_memory_mib,
    roi_rdms_runtime_min,
    roi_rdms_threads,
    rsa_memory_mib,
    rsa_runtime_min,
    rsa_shape,
    rsa_threads,
)
from brainalign.stages._rsa_settings import counts_ranks
from brainalign.stages.roi_rdms import brain_spec
from brainalign.store import store_nbytes


def as_json(obj):
    """Compact, key-sorted JSON: also what Snakemake compares to decide that params changed."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def quoted_list(words):
    """Shell words joined by spaces, each quoted where it needs it (a path with a space): for a
    param that holds several NAME=PATH arguments, used unquoted in the shell command."""
    return " ".join(shlex.quote(w) for w in words)


# ------------------------------------------------------------------------------ resources
# Snakemake evaluates these when a job is ready (its inputs exist), on the submitting machine and
# again inside the cluster job; `attempt` (1, 2, ... with --retries) scales memory and time so
# that a job killed for either is resubmitted with more.


def _path_bytes(path):
    """Uncompressed bytes of a Zarr store from its metadata (`brainalign.store.store_nbytes`), of
    the files an input manifest lists (`brainalign.input_manifest`), of any other folder or file from
    its bytes on disk (a BIDS dataset's compressed NIfTI: the factors of the rules allow for
    decompression); 0 for a path that does not exist yet."""
    path = Path(path)
    if path.name.endswith(MANIFEST_SUFFIX):
        return manifest_bytes(path)
    if (path / "zarr.json").is_file():
        try:
            return store_nbytes(path)
        except (ValueError, OSError) as err:  # metadata that is not JSON (a truncated zarr.json)
            raise InputError(damaged_store_message(path, "", err)) from None
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size if path.is_file() else 0


def input_mb(input, wildcards, split=None, within=None):
    """Size of a job's inputs in MiB.

    `split=(name, n)`: the named input counts 1/n (a job that reads one of n unit parts of it);
    `within=(name, pattern)`: of the named input folder, only its subfolder `pattern` (formatted
    with the wildcards, e.g. `sub-{sub}` of a BIDS dataset) counts, where that input and
    subfolder exist."""
    named = dict(input.items())
    paths = {p: 1 for p in input}
    if within is not None and within[0] in named:
        name, pattern = within
        sub = Path(named[name], pattern.format(**wildcards))
        if sub.is_dir():
            paths[str(sub)] = paths.pop(named[name])
    if split is not None:
        name, n = split
        paths[named[name]] = n
    return sum(_path_bytes(p) / n for p, n in paths.items()) / 2**20


def mem_mb(base, per_input, **which):
    """Memory request `(base + per_input * input MiB) * attempt` MB: `per_input` is how many
    copies of its inputs a stage holds at its peak (`which`: see `input_mb`)."""
    return lambda wildcards, input, attempt: math.ceil(
        (base + per_input * input_mb(input, wildcards, **which)) * attempt
    )


def runtime_min(base, per_gib, **which):
    """Time limit `(base + per_gib * input GiB) * attempt` minutes."""
    return lambda wildcards, input, attempt: math.ceil(
        (base + per_gib * input_mb(input, wildcards, **which) / 1024) * attempt
    )


def cpus(base, gib_per_cpu, most=16, **which):
    """Threads (under SLURM: --cpus-per-task): `base`, plus one per `gib_per_cpu` GiB of input,
    at most `most` (and never more than --cores)."""
    return lambda wildcards, input: min(most, base + int(input_mb(input, wildcards, **which) / 1024 / gib_per_cpu))


def _rsa_shape(input):
    """Stimuli, layers, ROIs, voxels and trials of an RSA or roi_rdms job
    (`brainalign.job_resources.rsa_shape`); zeros while its inputs do not exist (a dry run)."""
    stores = [Path(input.brain)] + ([Path(input.features)] if "features" in input.keys() else [])
    if not all((p / "zarr.json").is_file() for p in stores):
        return {"n": 0, "layers": 0, "rois": 0, "units": 0, "trials": 0}
    try:
        return rsa_shape(*stores)
    except (ValueError, OSError) as err:
        raise InputError(damaged_store_message(stores[0], "", err)) from None


def rsa_threads_for(wildcards, input):
    """Threads of an RSA job from its stimulus pairs (`brainalign.job_resources.rsa_threads`)."""
    return rsa_threads(_rsa_shape(input))


def rsa_mem_mb(wildcards, input, attempt):
    """Memory of an RSA job from the shape of its data (`brainalign.job_resources.rsa_memory_mib`), MB."""
    shape = _rsa_shape(input)
    counting = counts_ranks(config["rsa"], shape["n"])
    return math.ceil(rsa_memory_mib(shape, counting) * 1.048576 * attempt)


def rsa_runtime(wildcards, input, threads, attempt):
    """Time limit of an RSA job (`brainalign.job_resources.rsa_runtime_min`), minutes."""
    return rsa_runtime_min(_rsa_shape(input), config["rsa"]["n_bootstrap"], threads) * attempt


def roi_rdms_threads_for(wildcards, input):
    """Threads of a roi_rdms job (`brainalign.job_resources.roi_rdms_threads`)."""
    return roi_rdms_threads(_rsa_shape(input))


def roi_rdms_mem_mb(wildcards, input, attempt):
    """Memory of a roi_rdms job (`brainalign.job_resources.roi_rdms_memory_mib`), MB."""
    return math.ceil(roi_rdms_memory_mib(_rsa_shape(input)) * 1.048576 * attempt)


def roi_rdms_runtime(wildcards, input, threads, attempt):
    """Time limit of a roi_rdms job (`brainalign.job_resources.roi_rdms_runtime_min`), minutes."""
    return roi_rdms_runtime_min(_rsa_shape(input), threads) * attempt


# ------------------------------------------------------------------ stage specs and inputs
def _generating_features(wc):
    """Features stores of the models that drive the simulated ROIs of a dataset."""
    spec = config["datasets"][wc.dataset]
    models = sorted({gen["model"] for gen in spec["simulate"]["rois"].values()})
    return {m: PLAN.features_store(spec["stimuli"], m) for m in models}


def _meg_generating_features(wc):
    """Features stores of the models whose layers drive a simulated MEG dataset."""
    spec = config["datasets"][wc.dataset]
    models = sorted({gen["model"] for gen in spec["simulate_meg"]["layers"].values()})
    return {m: PLAN.features_store(spec["stimuli"], m) for m in models}


def _align_spec(wc):
    """meg_align's config: the rsa, encoding and time_resolved sections (their keys are distinct)
    and the store's labels."""
    return as_json(
        {
            **config["rsa"],
            **ENCODING_CONFIG,
            **config["time_resolved"],
            "dataset": wc.dataset,
            "subject": wc.sub,
            "model": wc.model,
        }
    )


def encoding_spec(wc):
    """The stage's config and the store's labels."""
    return as_json(
        {**ENCODING_CONFIG, "dataset": wc.dataset, "subject": wc.sub, "model": wc.model, **PLAN.noise_spec(wc.dataset)}
    )
