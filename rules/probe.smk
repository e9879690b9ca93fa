# Linear and n-shot probes of model behaviour (stage probe), and model-model similarity across
# stimulus sets and against probe accuracy (stage probe_compare): studies with a `probe` section.
PROBE_STAGE_KEYS = ("Cs", "outer_folds", "inner_folds", "shots", "n_draws", "fewshot_C", "standardize", "ci")
PROBE_COMPARE_KEYS = ("method", "n_permutations", "n_bootstrap", "ci")
PROBE_TABLES = (
    "consistency",
    "tag_consistency",
    "similarity_gap",
    "similarity_gap_stats",
    "alignment_fewshot",
    "alignment_fewshot_band",
)


rule probe:
    """Cross-validated linear-probe and n-shot accuracy of every layer of one model on one labelled set."""
    input:
        features=f"{R}/features/{{stimset}}/{{model}}.zarr",
        stimuli=f"{R}/stimuli/{{stimset}}.zarr",
    output:
        update(directory(f"{R}/probe/{{stimset}}/{{model}}.zarr")),
    log:
        f"{R}/logs/probe/{{stimset}}_{{model}}.log",
    conda:
        "../envs/brainalign.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 3),
        runtime=runtime_min(10, 30),
    params:
        spec=lambda wc: as_json(
            {
                **{k: config["probe"][k] for k in PROBE_STAGE_KEYS},
                "label": config["probe"]["labels"][wc.stimset],
                "dataset": wc.stimset,
                "model": wc.model,
            }
        ),
        seed=config["seed"],
    shell:
        "brainalign probe --spec {params.spec:q} --seed {params.seed:q} --features {input.features:q} "
        "--stimuli {input.stimuli:q} --out {output:q} > {log:q} 2>&1"


if "probe" in config:

    rule probe_compare:
        """Consistency of model-model similarity across stimulus sets (by model tags), similarity against
        the gap in probe accuracy, and human alignment against few-shot accuracy."""
        input:
            similarity=PLAN.similarity_stores(),
            probe=PLAN.probe_stores(),
            summary=[f"{R}/summary.csv"] if PLAN.datasets("behaviour") else [],
        output:
            **(
                {
                    "alignment": report(
                        PLAN.probe_figures()["alignment"],
                        caption="../report/probe_alignment.rst",
                        category="Figures",
                        subcategory="Model behaviour",
                    )
                }
                if "alignment" in PLAN.probe_figures()
                else {}
            ),
            tables=[f"{R}/probe_compare/{name}.csv" for name in PROBE_TABLES],
            consistency=report(
                PLAN.probe_figures()["consistency"],
                caption="../report/probe_consistency.rst",
                category="Figures",
                subcategory="Model behaviour",
            ),
            gap=report(
                PLAN.probe_figures()["gap"],
                caption="../report/probe_gap.rst",
                category="Figures",
                subcategory="Model behaviour",
            ),
        log:
            f"{R}/logs/probe_compare.log",
        conda:
            "../envs/brainalign.yaml"
        resources:
            mem_mb=mem_mb(1000, 2),
            runtime=runtime_min(10, 10),
        params:
            spec=as_json(
                {
                    **{k: config["probe"][k] for k in PROBE_COMPARE_KEYS},
                    "tags": {m: spec["tags"] for m, spec in config["models"].items() if "tags" in spec},
                }
            ),
            similarity=quoted_list(f"{s}={PLAN.similarity_store(s)}" for s in PLAN.similarity_sets()),
            summary=quoted_list(["--summary", f"{R}/summary.csv"]) if PLAN.datasets("behaviour") else "",
            figures=lambda wc, output: quoted_list(
                w for kind in PLAN.probe_figures() for w in (f"--{kind}-figure", getattr(output, kind))
            ),
            out=lambda wc, output: Path(output.tables[0]).parent,
            seed=config["seed"],
        shell:
            "brainalign probe_compare --spec {params.spec:q} --seed {params.seed:q} --similarity {params.similarity} "
            "--probe {input.probe:q} {params.summary} {params.figures} --out {params.out:q} > {log:q} 2>&1"
