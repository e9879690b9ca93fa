from brainalign.brain.betas_config import betas_inputs


rule fmri:
    """Single-trial betas of one subject with nilearn's FirstLevelModel, one group per ROI. A
    simulated dataset's BIDS folder is an input; a real one's files that the subject uses (runs,
    ROI files) are, through their manifest; the stimulus set through the list of its ids
    (brainalign.input_manifest)."""
    input:
        unpack(
            lambda wc: {
                "stimuli": MANIFESTS.stimulus_ids(PLAN.stimset_of(wc.dataset)),
                **(
                    {"bids": PLAN.bids_dir(wc.dataset)}
                    if "simulate" in config["datasets"][wc.dataset]
                    else {"files": MANIFESTS.fmri(wc.dataset, wc.sub)}
                ),
            }
        ),
    output:
        update(directory(f"{R}/brain/{{dataset}}/sub-{{sub}}.zarr")),
    log:
        f"{R}/logs/fmri/{{dataset}}_sub-{{sub}}.log",
    wildcard_constraints:
        dataset=PLAN.dataset_pattern("fmri", betas=False),
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=mem_mb(2000, 20, within=("bids", "sub-{sub}")),
        runtime=runtime_min(15, 120, within=("bids", "sub-{sub}")),
    params:
        spec=lambda wc: as_json(config["datasets"][wc.dataset]),
        bids=lambda wc: PLAN.bids_dir(wc.dataset),
        seed=config["seed"],
    shell:
        "brainalign fmri --spec {params.spec:q} --seed {params.seed:q} --bids {params.bids:q} "
        "--subject {wildcards.sub:q} --stimuli {input.stimuli:q} --out {output:q} > {log:q} 2>&1"


rule fmri_betas:
    """One subject's precomputed single-trial betas (layout: betas) into a brain store, one file at a
    time. Every file it reads is an input: editing a betas file, the trial table, a mask or the
    ncsnr map reruns it."""
    input:
        unpack(
            lambda wc: {
                **betas_inputs(config["datasets"][wc.dataset], wc.sub),
                "stimuli": MANIFESTS.stimulus_ids(PLAN.stimset_of(wc.dataset)),
            }
        ),
    output:
        update(directory(f"{R}/brain/{{dataset}}/sub-{{sub}}.zarr")),
    log:
        f"{R}/logs/fmri/{{dataset}}_sub-{{sub}}.log",
    wildcard_constraints:
        dataset=PLAN.dataset_pattern("fmri", betas=True),
    conda:
        "../envs/brainalign.yaml"
    resources:
        # one betas file at a time: memory grows with the largest file, not with the session count
        mem_mb=lambda wc, input, attempt: math.ceil(
            (1000 + 3 * max([Path(p).stat().st_size for p in input.betas if Path(p).is_file()] or [0]) / 2**20)
            * attempt
        ),
        runtime=runtime_min(10, 10),
    params:
        spec=lambda wc: as_json(config["datasets"][wc.dataset]),
        path=lambda wc: config["datasets"][wc.dataset]["path"],
        seed=config["seed"],
    shell:
        "brainalign fmri --spec {params.spec:q} --seed {params.seed:q} --bids {params.path:q} "
        "--subject {wildcards.sub:q} --stimuli {input.stimuli:q} --out {output:q} > {log:q} 2>&1"
