rule features:
    """Model activations of one model on one stimulus set, one group per layer (streamed to disk)."""
    input:
        stimuli=f"{R}/stimuli/{{stimset}}.zarr",
        weights=lambda wc: MANIFESTS.model(wc.model),
    output:
        update(directory(f"{R}/features/{{stimset}}/{{model}}.zarr")),
    log:
        f"{R}/logs/features/{{stimset}}_{{model}}.log",
    cache: "omit-software"
    conda:
        "../envs/brainalign.yaml"
    threads: cpus(2, 2)
    resources:
        mem_mb=mem_mb(4000, 4),
        runtime=runtime_min(10, 30),
    params:
        spec=lambda wc: as_json({k: v for k, v in config["models"][wc.model].items() if k != "tags"}),
        seed=config["seed"],
    shell:
        "brainalign features --spec {params.spec:q} --seed {params.seed:q} --stimuli {input.stimuli:q} "
        "--out {output:q} > {log:q} 2>&1"
