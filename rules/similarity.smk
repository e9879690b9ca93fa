rule similarity:
    """Model-model similarity of every pair of layers of the models that see one stimulus set."""
    input:
        lambda wc: [PLAN.features_store(wc.stimset, m) for m in PLAN.models_for(wc.stimset)],
    output:
        update(directory(f"{R}/similarity/{{stimset}}.zarr")),
    log:
        f"{R}/logs/similarity/{{stimset}}.log",
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=mem_mb(1000, 4),
        runtime=runtime_min(10, 60),
    params:
        spec=as_json(config["similarity"]),
        features=lambda wc: quoted_list(
            f"{m}={PLAN.features_store(wc.stimset, m)}" for m in PLAN.models_for(wc.stimset)
        ),
        seed=config["seed"],
    shell:
        "brainalign similarity --spec {params.spec:q} --seed {params.seed:q} --features {params.features} "
        "--out {output:q} > {log:q} 2>&1"
