rule stimuli:
    """Render a stimulus set into the arrays the models see."""
    output:
        update(directory(f"{R}/stimuli/{{stimset}}.zarr")),
    params:
        spec=lambda wc: as_json(config["stimuli"][wc.stimset]),
        seed=config["seed"],
    conda:
        "../envs/brainalign.yaml"
    log:
        "logs/stimuli/{stimset}.log",
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "brainalign stimuli --spec {params.spec:q} --seed {params.seed} --out {output} > {log} 2>&1"
