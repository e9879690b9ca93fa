rule fmri:
    """Single-trial betas of one subject with nilearn's FirstLevelModel, one group per ROI."""
    input:
        bids=lambda wc: PLAN.bids_dir(wc.dataset),
        stimuli=lambda wc: PLAN.stimuli_store(PLAN.stimset_of(wc.dataset)),
    output:
        update(directory(f"{R}/brain/{{dataset}}/sub-{{sub}}.zarr")),
    wildcard_constraints:
        dataset=PLAN.dataset_pattern("fmri"),
    params:
        spec=lambda wc: as_json(config["datasets"][wc.dataset]),
        seed=config["seed"],
    conda:
        "../envs/brainalign.yaml"
    log:
        "logs/fmri/{dataset}_sub-{sub}.log",
    resources:
        mem_mb=mem_mb(2000, 20, within=("bids", "sub-{sub}")),
        runtime=runtime_min(15, 120, within=("bids", "sub-{sub}")),
    shell:
        "brainalign fmri --spec {params.spec:q} --seed {params.seed} --bids {input.bids} "
        "--subject {wildcards.sub} --stimuli {input.stimuli} --out {output} > {log} 2>&1"
