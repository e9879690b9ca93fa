# Noise curves (brainalign.sweeps): a swept dataset's points are datasets of their own, run by the
# other rules; these two rules only gather their scores, after the summary.


rule sweep:
    """Scores per layer and recovery rate of every point of every sweep (sweep.csv)."""
    input:
        scores=f"{R}/scores.zarr",
        recovery=f"{R}/recovery.csv",
    output:
        report(f"{R}/sweep.csv", caption="../report/sweep.rst", category="Tables"),
    log:
        f"{R}/logs/sweep.log",
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        spec=as_json({"sweeps": PLAN.sweeps()}),
        seed=config["seed"],
    shell:
        "brainalign sweep --spec {params.spec:q} --seed {params.seed:q} --scores {input.scores:q} "
        "--recovery {input.recovery:q} --out {output:q} > {log:q} 2>&1"


rule figure_sweep:
    """Score per layer and recovery rate against the SNR of one sweep."""
    input:
        table=f"{R}/sweep.csv",
    output:
        report(
            f"{R}/figures/sweep_{{sweep}}.png",
            caption="../report/sweep_figure.rst",
            category="Figures",
            subcategory="Noise curves",
        ),
    log:
        f"{R}/logs/figure/sweep_{{sweep}}.log",
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=lambda wc: as_json({"sweep": wc.sweep}),
        seed=config["seed"],
    shell:
        "brainalign sweep_figure --spec {params.spec:q} --seed {params.seed:q} --table {input.table:q} "
        "--out {output:q} > {log:q} 2>&1"
