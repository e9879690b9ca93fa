rule encoding:
    """Cross-validated ridge encoding of every layer of one model, per ROI of one subject."""
    input:
        brain=f"{R}/brain/{{dataset}}/sub-{{sub}}.zarr",
        features=lambda wc: PLAN.features_store(PLAN.stimset_of(wc.dataset), wc.model),
    output:
        directory(f"{R}/encoding/{{dataset}}/sub-{{sub}}/{{model}}.zarr"),
    params:
        spec=lambda wc: as_json({**config["encoding"], "dataset": wc.dataset, "subject": wc.sub, "model": wc.model}),
        seed=config["seed"],
    conda:
        "../envs/brainalign.yaml"
    log:
        "logs/encoding/{dataset}_sub-{sub}_{model}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "brainalign encoding --spec {params.spec:q} --seed {params.seed} --brain {input.brain} "
        "--features {input.features} --out {output} > {log} 2>&1"
