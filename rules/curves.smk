# Sample-size curves (config section `curves`, README "Sample-size curves"): each method's scores on
# random subsets of the stimuli at several sizes, one store per curve (beside the method's own
# store, under curves/), curves.csv and a figure per curve. Nothing here without the section.
CURVES = config.get("curves")
# the stage's spec: the section without `methods`, which only picks the jobs, and `seed` (--seed),
# then the method's settings and the store's labels
CURVE_BASE = {k: v for k, v in (CURVES or {}).items() if k not in ("methods", "seed")}


if CURVES:

    rule curves_similarity:
        """Model-model similarity of every pair of layers on random subsets of one stimulus set."""
        input:
            lambda wc: [PLAN.features_store(wc.stimset, m) for m in PLAN.models_for(wc.stimset)],
        output:
            update(directory(f"{R}/curves/similarity/{{stimset}}.zarr")),
        log:
            f"{R}/logs/curves/similarity_{{stimset}}.log",
        benchmark:
            f"{R}/benchmarks/curves/similarity_{{stimset}}.tsv"
        conda:
            "../envs/brainalign.yaml"
        resources:
            mem_mb=mem_mb(1000, 4),
            runtime=runtime_min(10, 120),
        params:
            spec=lambda wc: as_json({**CURVE_BASE, "settings": config["similarity"], "stimuli": wc.stimset}),
            features=lambda wc: quoted_list(
                f"{m}={PLAN.features_store(wc.stimset, m)}" for m in PLAN.models_for(wc.stimset)
            ),
            seed=CURVES["seed"],
        shell:
            "brainalign curves --method similarity --spec {params.spec:q} --seed {params.seed:q} "
            "--features {params.features} --out {output:q} > {log:q} 2>&1"

    rule curves_brain:
        """RSA or encoding of every layer of one model with every ROI of one subject, on random
        subsets of the stimuli."""
        input:
            brain=f"{R}/brain/{{dataset}}/sub-{{sub}}.zarr",
            features=lambda wc: PLAN.features_store(PLAN.stimset_of(wc.dataset), wc.model),
        output:
            update(directory(f"{R}/curves/{{method}}/{{dataset}}/sub-{{sub}}/{{model}}.zarr")),
        log:
            f"{R}/logs/curves/{{method}}_{{dataset}}_sub-{{sub}}_{{model}}.log",
        benchmark:
            f"{R}/benchmarks/curves/{{method}}_{{dataset}}_sub-{{sub}}_{{model}}.tsv"
        wildcard_constraints:
            **NO_SLASH,
            method="rsa|encoding",
        conda:
            "../envs/brainalign.yaml"
        threads: cpus(1, 4)
        resources:
            mem_mb=mem_mb(1000, 6),
            runtime=runtime_min(10, 120),
        params:
            spec=lambda wc: as_json(
                {
                    **CURVE_BASE,
                    "settings": config["rsa"] if wc.method == "rsa" else ENCODING_CONFIG,
                    "dataset": wc.dataset,
                    "subject": wc.sub,
                }
            ),
            features=lambda wc, input: f"{wc.model}={input.features}",
            seed=CURVES["seed"],
        shell:
            "brainalign curves --method {wildcards.method:q} --spec {params.spec:q} --seed {params.seed:q} "
            "--features {params.features:q} --brain {input.brain:q} --out {output:q} > {log:q} 2>&1"

    rule curves_summarize:
        """Every curve as rows of curves.csv."""
        input:
            PLAN.curve_stores(),
        output:
            report(f"{R}/curves.csv", caption="../report/curves_table.rst", category="Tables"),
        log:
            f"{R}/logs/curves/summarize.log",
        conda:
            "../envs/brainalign.yaml"
        resources:
            mem_mb=mem_mb(1000, 2),
            runtime=10,
        params:
            spec=as_json({}),
            seed=CURVES["seed"],
        shell:
            "brainalign curves_summarize --spec {params.spec:q} --seed {params.seed:q} --curves {input:q} "
            "--out {output:q} > {log:q} 2>&1"

    rule curves_figure:
        """One curve's score against the number of stimuli, with its band."""
        input:
            f"{R}/curves/{{curve}}.zarr",
        output:
            report(
                f"{R}/figures/curves/{{curve}}.png",
                caption="../report/curves.rst",
                category="Figures",
                subcategory="Sample size",
            ),
        log:
            f"{R}/logs/figure/curves/{{curve}}.log",
        conda:
            "../envs/brainalign.yaml"
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            spec=as_json({}),
            seed=CURVES["seed"],
        shell:
            "brainalign curves_figure --spec {params.spec:q} --seed {params.seed:q} --curve {input:q} "
            "--out {output:q} > {log:q} 2>&1"
