rule decode:
    """Leave-one-run-out decoding of the stimulus labels from each ROI of one subject."""
    input:
        brain=f"{R}/brain/{{dataset}}/sub-{{sub}}.zarr",
    output:
        update(directory(f"{R}/decoding/{{dataset}}/sub-{{sub}}.zarr")),
    log:
        f"{R}/logs/decode/{{dataset}}_sub-{{sub}}.log",
    conda:
        "../envs/brainalign.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        spec=lambda wc: as_json({**config["decoding"], "dataset": wc.dataset, "subject": wc.sub}),
        seed=config["seed"],
    shell:
        "brainalign decode --spec {params.spec:q} --seed {params.seed:q} --brain {input.brain:q} "
        "--out {output:q} > {log:q} 2>&1"
