# Trained ensembles (README, "Trained ensembles"): one job per member trains a network on the task of
# its ensemble and reads its layers on the probe set; one job per ensemble aligns the members of each
# (snr, n_train, width) cell; the table and figure gather every ensemble.
ENSEMBLE_MEMBER = f"{R}/ensembles/{{ensemble}}/snr-{{snr}}_n-{{n_train}}_w-{{width}}/seed-{{member_seed}}"


rule train:
    """Train one member of an ensemble; its checkpoint and its layers on the probe set."""
    input:
        stimuli=lambda wc: PLAN.stimuli_store(config["ensembles"][wc.ensemble]["stimuli"]),
        teacher=lambda wc: PLAN.ensemble_teacher(wc.ensemble),
    output:
        checkpoint=f"{ENSEMBLE_MEMBER}.pt",
        features=update(directory(f"{ENSEMBLE_MEMBER}.zarr")),
    log:
        f"{R}/logs/train/{{ensemble}}/snr-{{snr}}_n-{{n_train}}_w-{{width}}_seed-{{member_seed}}.log",
    wildcard_constraints:
        ensemble=r"[^/]+",
        snr=r"[0-9.e+-]+",
        n_train=r"\d+",
        width=r"\d+",
        member_seed=r"\d+",
    conda:
        "../envs/brainalign.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(2000, 4),
        runtime=runtime_min(10, 30),
    params:
        spec=lambda wc: as_json(PLAN.ensemble_member_spec(wc.ensemble, wc.snr, wc.n_train, wc.width, wc.member_seed)),
        teacher=lambda wc, input: quoted_list(w for path in input.teacher for w in ("--teacher", path)),
        seed=config["seed"],
    shell:
        "brainalign train --spec {params.spec:q} --seed {params.seed:q} --stimuli {input.stimuli:q} "
        "{params.teacher} --out {output.checkpoint:q} --features {output.features:q} > {log:q} 2>&1"


rule ensembles:
    """Alignment among the members of each cell of one ensemble, and their test error."""
    input:
        lambda wc: [f"{PLAN.ensemble_member(wc.ensemble, *point)}.zarr" for point in PLAN.ensemble_grid(wc.ensemble)],
    output:
        update(directory(f"{R}/ensembles/{{ensemble}}.zarr")),
    log:
        f"{R}/logs/ensembles/{{ensemble}}.log",
    wildcard_constraints:
        ensemble=r"[^/]+",
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=mem_mb(1000, 4),
        runtime=runtime_min(10, 60),
    params:
        spec=lambda wc: as_json(config["ensembles"][wc.ensemble]),
        seed=config["seed"],
    shell:
        "brainalign ensembles --spec {params.spec:q} --seed {params.seed:q} --members {input:q} "
        "--out {output:q} > {log:q} 2>&1"


rule ensembles_summary:
    """The table of every ensemble's alignment and test error per cell, and its figure."""
    input:
        [PLAN.ensemble_store(name) for name in PLAN.ensembles()],
    output:
        table=report(f"{R}/ensembles.csv", caption="../report/ensembles.rst", category="Tables"),
        figure=report(
            f"{R}/figures/ensembles.png",
            caption="../report/ensembles.rst",
            category="Figures",
            subcategory="Trained ensembles",
        ),
    log:
        f"{R}/logs/ensembles_summary.log",
    conda:
        "../envs/brainalign.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        ensembles=quoted_list(f"{name}={PLAN.ensemble_store(name)}" for name in PLAN.ensembles()),
        out=lambda wc, output: Path(output.table).parent,
        spec=as_json({}),
        seed=config["seed"],
    shell:
        "brainalign ensembles_summary --spec {params.spec:q} --seed {params.seed:q} --ensembles {params.ensembles} "
        "--out {params.out:q} > {log:q} 2>&1"
