rule stimuli:
    """Render a stimulus set into the arrays the models see (an image folder's table and images
    are an input through their manifest, brainalign.input_manifest)."""
    input:
        files=lambda wc: MANIFESTS.stimuli(wc.stimset),
    output:
        update(directory(f"{R}/stimuli/{{stimset}}.zarr")),
    log:
        f"{R}/logs/stimuli/{{stimset}}.log",
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        spec=lambda wc: as_json({k: v for k, v in config["stimuli"][wc.stimset].items() if k != "models"}),
        seed=config["seed"],
    shell:
        "brainalign stimuli --spec {params.spec:q} --seed {params.seed:q} --out {output:q} > {log:q} 2>&1"
