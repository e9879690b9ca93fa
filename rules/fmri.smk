rule fmri:
    """Single-trial betas of one subject with nilearn's FirstLevelModel, one group per ROI. A
    simulated dataset's BIDS folder is an input; a real one's files that the subject uses (runs,
    ROI files) are, through their manifest; the stimulus set through the list of its ids
    (brainalign.manifest)."""
    input:
        unpack(lambda wc: {"stimuli": MANIFESTS.stimulus_ids(PLAN.stimset_of(wc.dataset)),
                           **({"bids": PLAN.bids_dir(wc.dataset)} if "simulate" in config["datasets"][wc.dataset]
                              else {"files": MANIFESTS.fmri(wc.dataset, wc.sub)})}),
    output:
        directory(f"{R}/brain/{{dataset}}/sub-{{sub}}.zarr"),
    wildcard_constraints:
        dataset=PLAN.dataset_pattern("fmri"),
    params:
        spec=lambda wc: as_json(config["datasets"][wc.dataset]),
        bids=lambda wc: PLAN.bids_dir(wc.dataset),
        seed=config["seed"],
    conda:
        "../envs/brainalign.yaml"
    log:
        "logs/fmri/{dataset}_sub-{sub}.log",
    resources:
        mem_mb=mem_mb(2000, 20, within=("bids", "sub-{sub}")),
        runtime=runtime_min(15, 120, within=("bids", "sub-{sub}")),
    shell:
        "brainalign fmri --spec {params.spec:q} --seed {params.seed} --bids {params.bids:q} "
        "--subject {wildcards.sub} --stimuli {input.stimuli} --out {output} > {log} 2>&1"
