# Human judgements (`modality: behaviour`): simulated triplets, agreement of every layer of a model
# (one store per dataset x model), and the agreement figure. summary.csv rows: rules/report.smk.


rule simulate_behaviour:
    """Simulated odd-one-out triplets of a behaviour dataset, written as a triplet file."""
    input:
        stimuli=lambda wc: PLAN.stimuli_store(PLAN.stimset_of(wc.dataset)),
        features=lambda wc: PLAN.features_store(  # the generating model's
            PLAN.stimset_of(wc.dataset), config["datasets"][wc.dataset]["simulate_behaviour"]["model"]
        ),
    output:
        f"{R}/behaviour_raw/{{dataset}}/triplets.tsv",
    log:
        f"{R}/logs/simulate_behaviour/{{dataset}}.log",
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=mem_mb(1000, 2),
        runtime=10,
    params:
        spec=lambda wc: as_json(config["datasets"][wc.dataset]),
        seed=config["seed"],
    shell:
        "brainalign simulate_behaviour --spec {params.spec:q} --seed {params.seed:q} --stimuli {input.stimuli:q} "
        "--features {input.features:q} --out {output:q} > {log:q} 2>&1"


rule behaviour:
    """Agreement of every layer of one model with one dataset of human judgements, and the gLocal probe."""
    input:
        unpack(
            lambda wc: {
                "features": PLAN.features_store(PLAN.stimset_of(wc.dataset), wc.model),
                "stimuli": PLAN.stimuli_store(PLAN.stimset_of(wc.dataset)),
                "judgements": PLAN.behaviour_files(wc.dataset)[0],
                "other": PLAN.behaviour_files(wc.dataset)[1:],
            }
        ),
    output:
        update(directory(f"{R}/behaviour/{{dataset}}/{{model}}.zarr")),
    log:
        f"{R}/logs/behaviour/{{dataset}}_{{model}}.log",
    wildcard_constraints:
        dataset=PLAN.dataset_pattern("behaviour"),
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=mem_mb(2000, 3),
        runtime=runtime_min(10, 30),
    params:
        spec=lambda wc: as_json(
            {
                **config["datasets"][wc.dataset],
                "dataset": wc.dataset,
                "model": wc.model,
                "behaviour": config["behaviour"],
                "rsa": config["rsa"],
            }
        ),
        seed=config["seed"],
    shell:
        "brainalign behaviour --spec {params.spec:q} --seed {params.seed:q} --features {input.features:q} "
        "--stimuli {input.stimuli:q} --judgements {input.judgements:q} --out {output:q} > {log:q} 2>&1"


rule figure_behaviour:
    """Agreement with human judgements by layer, with the human ceiling."""
    input:
        PLAN.behaviour_stores(),
    output:
        report(
            f"{R}/figures/behaviour.png",
            caption="../report/behaviour.rst",
            category="Figures",
            subcategory="Human judgements",
        ),
    log:
        f"{R}/logs/figure/behaviour.log",
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=as_json({}),
        seed=config["seed"],
    shell:
        "brainalign figure --kind behaviour --spec {params.spec:q} --seed {params.seed:q} "
        "--behaviour {input:q} --out {output:q} > {log:q} 2>&1"
