rule banded:
    """Banded ridge over the feature spaces of one `encoding.banded` model, with variance partitioning,
    per ROI of one subject."""
    input:
        brain=f"{R}/brain/{{dataset}}/sub-{{sub}}.zarr",
        features=lambda wc: sorted(
            {
                PLAN.features_store(PLAN.stimset_of(wc.dataset), b["model"])
                for b in config["encoding"]["banded"][wc.name]
            }
        ),
    output:
        update(directory(f"{R}/banded/{{dataset}}/sub-{{sub}}/{{name}}.zarr")),
    log:
        f"{R}/logs/banded/{{dataset}}_sub-{{sub}}_{{name}}.log",
    conda:
        "../envs/brainalign.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 6),
        runtime=runtime_min(10, 120),
    params:
        spec=lambda wc: as_json(
            {
                "bands": config["encoding"]["banded"][wc.name],
                "alphas": config["encoding"]["alphas"],
                "inner_folds": config["encoding"]["inner_folds"],
                "dataset": wc.dataset,
                "subject": wc.sub,
                "name": wc.name,
            }
        ),
        features=lambda wc: quoted_list(
            sorted(
                {
                    f"{b['model']}={PLAN.features_store(PLAN.stimset_of(wc.dataset), b['model'])}"
                    for b in config["encoding"]["banded"][wc.name]
                }
            )
        ),
        seed=config["seed"],
    shell:
        "brainalign banded --spec {params.spec:q} --seed {params.seed:q} --brain {input.brain:q} "
        "--features {params.features} --out {output:q} > {log:q} 2>&1"
