rule rdms:
    """One subject's precomputed brain RDMs (a `modality: rdm` dataset), checked, one group per ROI."""
    input:
        files=lambda wc: PLAN.rdm_files(wc.dataset, wc.sub),
        stimuli=lambda wc: PLAN.stimuli_store(PLAN.stimset_of(wc.dataset)),
    output:
        update(directory(f"{R}/brain/{{dataset}}/sub-{{sub}}.zarr")),
    log:
        f"{R}/logs/rdms/{{dataset}}_sub-{{sub}}.log",
    wildcard_constraints:
        dataset=PLAN.dataset_pattern("rdm"),
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=mem_mb(1000, 4),
        runtime=10,
    params:
        spec=lambda wc: as_json(config["datasets"][wc.dataset]),
        seed=config["seed"],
    shell:
        "brainalign rdms --spec {params.spec:q} --seed {params.seed:q} --subject {wildcards.sub:q} "
        "--stimuli {input.stimuli:q} --out {output:q} > {log:q} 2>&1"
