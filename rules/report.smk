rule summarize:
    """Every score with its bootstrap samples and noise ceiling (scores.zarr), the tidy summary and
    the recovery table of simulated studies."""
    input:
        encoding=PLAN.result_stores("encoding"),
        rsa=PLAN.result_stores("rsa"),
        decoding=PLAN.decoding_stores(),
        probe=PLAN.probe_stores(),
        behaviour=PLAN.behaviour_stores(),
    output:
        scores=update(directory(f"{R}/scores.zarr")),
        summary=report(f"{R}/summary.csv", caption="../report/summary.rst", category="Tables"),
        table=report(f"{R}/summary.html", caption="../report/summary.rst", category="Tables"),
        recovery=report(f"{R}/recovery.csv", caption="../report/recovery.rst", category="Tables"),
        paired=f"{R}/paired.csv",
    log:
        f"{R}/logs/summarize.log",
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=mem_mb(1000, 2),
        runtime=runtime_min(5, 10),
    params:
        spec=lambda wc: as_json({"datasets": config["datasets"], "results_dir": R, "inference": config["inference"]}),
        out=lambda wc, output: Path(output.summary).parent,
        seed=config["seed"],
    shell:
        "brainalign summarize --spec {params.spec:q} --seed {params.seed:q} --encoding {input.encoding:q} "
        "--rsa {input.rsa:q} --decoding {input.decoding:q} --probe {input.probe:q} "
        "--behaviour {input.behaviour:q} --out {params.out:q} > {log:q} 2>&1"


rule figure_score_by_layer:
    """Score by layer of every model, per ROI and method, with bootstrap bands and noise ceilings."""
    input:
        scores=f"{R}/scores.zarr",
    output:
        report(
            f"{R}/figures/score_by_layer.png",
            caption="../report/score_by_layer.rst",
            category="Figures",
            subcategory="Alignment",
        ),
    log:
        f"{R}/logs/figure/score_by_layer.log",
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=as_json({}),
        seed=config["seed"],
    shell:
        "brainalign figure --kind score_by_layer --spec {params.spec:q} --seed {params.seed:q} "
        "--scores {input.scores:q} --out {output:q} > {log:q} 2>&1"


rule figure_rdms:
    """RDMs of each ROI of a dataset and of each model's best layer for it."""
    input:
        rsa=lambda wc: PLAN.dataset_stores("rsa", wc.dataset),
        stimuli=lambda wc: PLAN.stimuli_store(PLAN.stimset_of(wc.dataset)),
    output:
        report(
            f"{R}/figures/rdms_{{dataset}}.png",
            caption="../report/rdms.rst",
            category="Figures",
            subcategory="Representations",
        ),
    log:
        f"{R}/logs/figure/rdms_{{dataset}}.log",
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=lambda wc: as_json({"dataset": wc.dataset}),
        seed=config["seed"],
    shell:
        "brainalign figure --kind rdms --spec {params.spec:q} --seed {params.seed:q} --rsa {input.rsa:q} "
        "--stimuli {input.stimuli:q} --out {output:q} > {log:q} 2>&1"


rule figure_brain_map:
    """Encoding performance per voxel of every subject of a dataset, on its voxel grid."""
    input:
        encoding=lambda wc: PLAN.dataset_stores("encoding", wc.dataset),
        brain=lambda wc: PLAN.dataset_stores("brain", wc.dataset),
    output:
        report(
            f"{R}/figures/brain_map_{{dataset}}.png",
            caption="../report/brain_map.rst",
            category="Figures",
            subcategory="Alignment",
        ),
    log:
        f"{R}/logs/figure/brain_map_{{dataset}}.log",
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=lambda wc: as_json({**config["datasets"][wc.dataset], "dataset": wc.dataset}),
        seed=config["seed"],
    shell:
        "brainalign figure --kind brain_map --spec {params.spec:q} --seed {params.seed:q} "
        "--encoding {input.encoding:q} --brain {input.brain:q} --out {output:q} > {log:q} 2>&1"


rule figure_model_similarity:
    """Model x model similarity matrices (kind model_similarity) and their consistency across
    stimulus sets (kind similarity_consistency)."""
    input:
        PLAN.similarity_stores(),
    output:
        report(
            f"{R}/figures/{{kind}}.png",
            caption="../report/model_similarity.rst",
            category="Figures",
            subcategory="Model x model",
        ),
    log:
        f"{R}/logs/figure/{{kind}}.log",
    wildcard_constraints:
        kind="model_similarity|similarity_consistency",
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=as_json({}),
        similarity=quoted_list(f"{s}={PLAN.similarity_store(s)}" for s in PLAN.similarity_sets()),
        seed=config["seed"],
    shell:
        "brainalign figure --kind {wildcards.kind:q} --spec {params.spec:q} --seed {params.seed:q} "
        "--similarity {params.similarity} --out {output:q} > {log:q} 2>&1"
