rule simulate:
    """Write the simulated BIDS dataset of a study whose generating layers are known."""
    input:
        unpack(lambda wc: {"stimuli": PLAN.stimuli_store(PLAN.stimset_of(wc.dataset)), **_generating_features(wc)}),
    output:
        directory(f"{R}/bids/{{dataset}}"),
    log:
        f"{R}/logs/simulate/{{dataset}}.log",
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=mem_mb(2000, 4),
        runtime=runtime_min(10, 30),
    params:
        spec=lambda wc: as_json(config["datasets"][wc.dataset]),
        features=lambda wc: quoted_list(f"{m}={p}" for m, p in _generating_features(wc).items()),
        seed=config["seed"],
    shell:
        "brainalign simulate --spec {params.spec:q} --seed {params.seed:q} --stimuli {input.stimuli:q} "
        "--features {params.features} --out {output:q} > {log:q} 2>&1"
