# MEG/EEG datasets (`modality: meg`): simulated runs, epochs, time-resolved RSA and encoding, summary.
# RSA and encoding of one model run in one job (one store, two groups): the stage's own work takes
# about a second, less than starting a Python process with its imports.


rule simulate_meg:
    """One subject's simulated EEG runs, driven by model layers at known latencies."""
    input:
        unpack(lambda wc: {"stimuli": PLAN.stimuli_store(PLAN.stimset_of(wc.dataset)), **_meg_generating_features(wc)}),
    output:
        directory(f"{R}/meg_raw/{{dataset}}/sub-{{sub}}"),
    log:
        f"{R}/logs/simulate_meg/{{dataset}}_sub-{{sub}}.log",
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=lambda wc: as_json(config["datasets"][wc.dataset]),
        features=lambda wc: quoted_list(f"{m}={p}" for m, p in _meg_generating_features(wc).items()),
        seed=config["seed"],
    shell:
        "brainalign simulate_meg --spec {params.spec:q} --seed {params.seed:q} --stimuli {input.stimuli:q} "
        "--subject {wildcards.sub:q} --features {params.features} --out {output:q} > {log:q} 2>&1"


rule meg:
    """MEG/EEG epochs (or per-stimulus averages) of one subject with MNE. Simulated runs are an
    input; a real subject's recordings and stimulus table are, through their manifest
    (brainalign.input_manifest)."""
    input:
        unpack(
            lambda wc: {
                **(
                    {"recordings": PLAN.meg_recordings(wc.dataset, wc.sub)}
                    if "simulate_meg" in config["datasets"][wc.dataset]
                    else {"files": MANIFESTS.meg(wc.dataset, wc.sub)}
                ),
                "stimuli": PLAN.stimuli_store(PLAN.stimset_of(wc.dataset)),
            }
        ),
    output:
        update(directory(f"{R}/brain/{{dataset}}/sub-{{sub}}.zarr")),
    log:
        f"{R}/logs/meg/{{dataset}}_sub-{{sub}}.log",
    wildcard_constraints:
        dataset=PLAN.dataset_pattern("meg"),
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        spec=lambda wc: as_json(config["datasets"][wc.dataset]),
        recordings=lambda wc: PLAN.meg_recordings(wc.dataset, wc.sub),
        seed=config["seed"],
    shell:
        "brainalign meg --spec {params.spec:q} --seed {params.seed:q} --recordings {params.recordings:q} "
        "--subject {wildcards.sub:q} --stimuli {input.stimuli:q} --out {output:q} > {log:q} 2>&1"


rule meg_align:
    """Time-resolved RSA and ridge encoding of every layer of one model against one subject's MEG/EEG."""
    input:
        brain=f"{R}/brain/{{dataset}}/sub-{{sub}}.zarr",
        features=lambda wc: PLAN.features_store(PLAN.stimset_of(wc.dataset), wc.model),
    output:
        update(directory(f"{R}/meg_align/{{dataset}}/sub-{{sub}}/{{model}}.zarr")),
    log:
        f"{R}/logs/meg_align/{{dataset}}_sub-{{sub}}_{{model}}.log",
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        spec=_align_spec,
        seed=config["seed"],
    shell:
        "brainalign meg_align --spec {params.spec:q} --seed {params.seed:q} --brain {input.brain:q} "
        "--features {input.features:q} --out {output:q} > {log:q} 2>&1"


rule meg_summarize:
    """Peak scores and latencies of every layer, the latency recovery table, the time courses as a
    table and as a figure."""
    input:
        PLAN.result_stores("meg_align", "meg"),
    output:
        summary=report(f"{R}/meg_summary.csv", caption="../report/meg_summary.rst", category="MEG"),
        recovery=report(f"{R}/meg_recovery.csv", caption="../report/meg_recovery.rst", category="MEG"),
        timecourse=report(f"{R}/meg_timecourse.csv", caption="../report/meg_timecourse_table.rst", category="MEG"),
        figure=report(f"{R}/figures/meg_timecourse.png", caption="../report/meg_timecourse.rst", category="MEG"),
    log:
        f"{R}/logs/meg_summarize.log",
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=lambda wc: as_json(
            {"datasets": {d: config["datasets"][d] for d in PLAN.datasets("meg")}, **config["time_resolved"]}
        ),
        out=lambda wc, output: Path(output.summary).parent,
        seed=config["seed"],
    shell:
        "brainalign meg_summarize --spec {params.spec:q} --seed {params.seed:q} --stores {input:q} --out {params.out:q} "
        "> {log:q} 2>&1"
