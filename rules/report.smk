rule summarize:
    """Tidy summary of every score, the recovery table of simulated studies, and figures."""
    input:
        encoding=PLAN.result_stores("encoding"),
        rsa=PLAN.result_stores("rsa"),
        decoding=PLAN.decoding_stores(),
    output:
        summary=f"{R}/summary.csv",
        recovery=f"{R}/recovery.csv",
        figure=report(f"{R}/figures/score_by_layer.png", caption="../report/score_by_layer.rst",
                      category="Alignment"),
    params:
        spec=lambda wc: as_json({"datasets": config["datasets"], "results_dir": R}),
        seed=config["seed"],
    conda:
        "../envs/brainalign.yaml"
    log:
        "logs/summarize.log",
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "brainalign summarize --spec {params.spec:q} --seed {params.seed} --encoding {input.encoding} "
        "--rsa {input.rsa} --decoding {input.decoding} --out {R} > {log} 2>&1"
