rule roi_rdms:
    """The RDM of every ROI of one subject, computed once for all its RSA jobs."""
    input:
        brain=lambda wc: PLAN.brain_store(wc.dataset, wc.sub),  # a noise dataset's: its base's
    output:
        update(directory(f"{R}/roi_rdms/{{dataset}}/sub-{{sub}}.zarr")),
    log:
        f"{R}/logs/roi_rdms/{{dataset}}_sub-{{sub}}.log",
    benchmark:
        f"{R}/benchmarks/roi_rdms/{{dataset}}_sub-{{sub}}.tsv"
    conda:
        "../envs/brainalign.yaml"
    threads: roi_rdms_threads_for
    resources:
        mem_mb=roi_rdms_mem_mb,
        runtime=roi_rdms_runtime,
    params:
        spec=lambda wc: as_json(
            brain_spec(
                {
                    **config["rsa"],
                    "dataset": wc.dataset,
                    "subject": wc.sub,
                    **PLAN.noise_spec(wc.dataset),
                }
            )
        ),
        seed=config["seed"],
    shell:
        "brainalign roi_rdms --spec {params.spec:q} --seed {params.seed:q} --brain {input.brain:q} "
        "--out {output:q} > {log:q} 2>&1"


rule rsa:
    """RSA of every layer of one model against every ROI of one subject, with bootstrap samples."""
    input:
        brain=rules.roi_rdms.output[0],
        features=lambda wc: PLAN.features_store(PLAN.stimset_of(wc.dataset), wc.model),
    output:
        update(directory(f"{R}/rsa/{{dataset}}/sub-{{sub}}/{{model}}.zarr")),
    log:
        f"{R}/logs/rsa/{{dataset}}_sub-{{sub}}_{{model}}.log",
    benchmark:
        f"{R}/benchmarks/rsa/{{dataset}}_sub-{{sub}}_{{model}}.tsv"
    conda:
        "../envs/brainalign.yaml"
    threads: rsa_threads_for
    resources:
        mem_mb=rsa_mem_mb,
        runtime=rsa_runtime,
    params:
        spec=lambda wc: as_json(
            {
                **config["rsa"],
                "dataset": wc.dataset,
                "subject": wc.sub,
                "model": wc.model,
                **PLAN.noise_spec(wc.dataset),
            }
        ),
        seed=config["seed"],
    shell:
        "brainalign rsa --spec {params.spec:q} --seed {params.seed:q} --brain {input.brain:q} "
        "--features {input.features:q} --out {output:q} > {log:q} 2>&1"
