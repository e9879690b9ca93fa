# The encoding stage runs one job per subject x model; or, with `encoding.unit_jobs: n` > 1, n
# `encoding_part` jobs that each encode one part of every ROI's units, gathered by the `encoding` job
# into the same store. Voxels are encoded independently, so the gathered store equals the unscattered
# one. (No "coding:" on the first two lines: Python would read it as the file's source encoding.)
UNIT_JOBS = config["encoding"]["unit_jobs"]
ENCODING_INPUT = dict(
    brain=lambda wc: PLAN.brain_store(wc.dataset, wc.sub),  # a noise dataset's: its base's
    features=lambda wc: PLAN.features_store(PLAN.stimset_of(wc.dataset), wc.model),
)
NO_SLASH = dict(dataset=r"[^/]+", sub=r"[^/]+", model=r"[^/]+")  # a part's path is no encoding store
ENCODING_PART = f"{R}/encoding/{{dataset}}/sub-{{sub}}/{{model}}.parts/{{part}}.zarr"
ENCODING_COMMAND = (
    "brainalign encoding --spec {params.spec:q} --seed {params.seed:q} --brain {input.brain:q} "
    "--features {input.features:q}"
)
ENCODING_SHELL = (  # one job, or the gathering of the parts
    f"{ENCODING_COMMAND} --out {{output:q}} > {{log:q}} 2>&1"
    if UNIT_JOBS == 1
    else "brainalign gather --spec {params.spec:q} --seed {params.seed:q} --parts {input.parts:q} --out {output:q} "
    "> {log:q} 2>&1"
)


# the encoding section without `unit_jobs`, which only splits the work and is no part of the results,
# and without `banded`, the models of rules/banded.smk
ENCODING_CONFIG = {k: v for k, v in config["encoding"].items() if k not in ("unit_jobs", "banded")}


rule encoding:
    """Cross-validated ridge encoding of every layer of one model, per ROI of one subject (or,
    scattered, the gathering of its unit parts)."""
    input:
        **(
            ENCODING_INPUT
            if UNIT_JOBS == 1
            else {"parts": expand(ENCODING_PART, part=range(UNIT_JOBS), allow_missing=True)}
        ),
    output:
        update(directory(f"{R}/encoding/{{dataset}}/sub-{{sub}}/{{model}}.zarr")),
    log:
        f"{R}/logs/encoding/{{dataset}}_sub-{{sub}}_{{model}}.log",
    benchmark:
        f"{R}/benchmarks/encoding/{{dataset}}_sub-{{sub}}_{{model}}.tsv"
    wildcard_constraints:
        **NO_SLASH,
    conda:
        "../envs/brainalign.yaml"
    threads: cpus(1, 4) if UNIT_JOBS == 1 else 1
    resources:
        mem_mb=mem_mb(1000, 6) if UNIT_JOBS == 1 else mem_mb(1000, 3),
        runtime=runtime_min(10, 60) if UNIT_JOBS == 1 else runtime_min(5, 10),
    params:
        spec=encoding_spec,
        seed=config["seed"],
    shell:
        ENCODING_SHELL


rule encoding_part:
    """Encoding of part `part` (0 .. unit_jobs - 1) of the units of every ROI of one subject."""
    input:
        **ENCODING_INPUT,
    output:
        temp(directory(ENCODING_PART)),
    log:
        f"{R}/logs/encoding_part/{{dataset}}_sub-{{sub}}_{{model}}_{{part}}.log",
    benchmark:
        f"{R}/benchmarks/encoding_part/{{dataset}}_sub-{{sub}}_{{model}}_{{part}}.tsv"
    wildcard_constraints:
        **NO_SLASH,
        part=r"\d+",
    conda:
        "../envs/brainalign.yaml"
    threads: cpus(1, 4, split=("brain", UNIT_JOBS))
    resources:
        mem_mb=mem_mb(1000, 6, split=("brain", UNIT_JOBS)),
        runtime=runtime_min(10, 60, split=("brain", UNIT_JOBS)),
    params:
        spec=encoding_spec,
        seed=config["seed"],
    shell:
        f"{ENCODING_COMMAND} --part {{wildcards.part:q}}/{UNIT_JOBS} --out {{output:q}} > {{log:q}} 2>&1"
