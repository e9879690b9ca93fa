"""The ``brainalign`` command line: one subcommand per stage, as the rules call them.

Every stage takes its config section as JSON (``--spec``; ``brainalign <stage> --help`` lists its
keys and defaults, and keys left out take those defaults), its input paths, and the output path; it
can be run by hand on the same paths. ``brainalign layers`` lists a model's layers;
``brainalign check CONFIG`` validates a study config; ``brainalign fetch-models`` downloads a
study's hub weights.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from pathlib import Path

from .errors import NAMED, describe
from .schema import SCHEMA_PATH
from .stage_spec import complete_spec, spec_help
from .stages.figure import KINDS as FIGURE_KINDS


def _json(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err}): {text[:200]}") from None


def _named_path(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="brainalign", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="stage", required=True, metavar="STAGE")

    def stage(name, help_):
        s = sub.add_parser(name, help=help_, description=help_, epilog=spec_help(name),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        s.add_argument("--spec", type=_json, required=True,
                       help="the stage's config as JSON (keys below; missing keys take their defaults)")
        s.add_argument("--seed", type=int, default=0, help="seed of every random step")
        s.add_argument("--out", type=Path, required=True, help="output store (or folder)")
        return s

    stage("stimuli", "render a stimulus set")
    s = stage("features", "extract model activations for a stimulus set")
    s.add_argument("--stimuli", type=Path, required=True)
    s = stage("simulate", "write the simulated BIDS dataset of a study")
    s.add_argument("--stimuli", type=Path, required=True)
    s.add_argument("--features", type=_named_path, nargs="+", required=True, metavar="MODEL=PATH")
    s = stage("fmri", "single-trial betas per ROI for one subject")
    s.add_argument("--bids", type=Path, required=True)
    s.add_argument("--subject", required=True)
    s.add_argument("--stimuli", type=Path, required=True)
    s = stage("rdms", "one subject's precomputed brain RDMs (modality: rdm) as a brain store")
    s.add_argument("--subject", required=True)
    s.add_argument("--stimuli", type=Path, required=True)
    s = stage("roi_rdms", "the RDM of every ROI of one subject, shared by its RSA jobs")
    s.add_argument("--brain", type=Path, required=True)
    for name, help_ in (("encoding", "cross-validated ridge encoding of every layer"),
                        ("rsa", "representational similarity analysis of every layer"),
                        ("meg_align", "time-resolved RSA and ridge encoding of every layer (MEG/EEG)")):
        s = stage(name, help_)
        s.add_argument("--brain", type=Path, required=True)
        s.add_argument("--features", type=Path, required=True)
        if name == "encoding":
            s.add_argument("--part", help="encode only part K of N of every ROI's units (K/N, K = 0..N-1)")
    s = stage("banded", "banded ridge over several feature spaces and variance partitioning")
    s.add_argument("--brain", type=Path, required=True)
    s.add_argument("--features", type=_named_path, nargs="+", required=True, metavar="MODEL=PATH")
    s = stage("gather", "join the unit parts of a scattered encoding into one store")
    s.add_argument("--parts", type=Path, nargs="+", required=True, help="the part stores, in part order")
    s = stage("decode", "leave-one-run-out decoding of the stimulus labels from the betas")
    s.add_argument("--brain", type=Path, required=True)
    s = stage("similarity", "model-model similarity of every pair of layers")
    s.add_argument("--features", type=_named_path, nargs="+", required=True, metavar="MODEL=PATH")
    s = stage("probe", "linear-probe and n-shot accuracy of every layer for a stimulus-table label")
    s.add_argument("--features", type=Path, required=True)
    s.add_argument("--stimuli", type=Path, required=True, help="the stimulus store holding the label column")
    s = stage("probe_compare", "model-model similarity across stimulus sets and against probe accuracy")
    s.add_argument("--similarity", type=_named_path, nargs="*", default=[], metavar="STIMSET=PATH")
    s.add_argument("--probe", type=Path, nargs="*", default=[], help="probe stores")
    s.add_argument("--summary", type=Path, help="summary.csv (its behaviour rows: human alignment)")
    for name in ("consistency", "gap", "alignment"):
        s.add_argument(f"--{name}-figure", type=Path, help=f"the {name} figure to draw (PNG)")
    s = stage("simulate_meg", "write one subject's simulated EEG runs (raw FIF) and stimulus table")
    s.add_argument("--stimuli", type=Path, required=True)
    s.add_argument("--subject", required=True)
    s.add_argument("--features", type=_named_path, nargs="+", required=True, metavar="MODEL=PATH")
    s = stage("meg", "MEG/EEG epochs (or per-stimulus averages) of one subject")
    s.add_argument("--recordings", type=Path, required=True, help="folder of the dataset's recordings")
    s.add_argument("--subject", required=True)
    s.add_argument("--stimuli", type=Path, help="stimulus store: the known stimulus ids (default: any)")
    s = stage("meg_summarize", "MEG summary and recovery tables, time-course figure")
    s.add_argument("--stores", type=Path, nargs="*", default=[], help="meg_align stores")
    s = stage("simulate_behaviour", "write simulated odd-one-out triplets of a behaviour dataset (TSV)")
    s.add_argument("--stimuli", type=Path, required=True)
    s.add_argument("--features", type=Path, required=True, help="the generating model's features store")
    s = stage("behaviour", "agreement of every layer with human judgements, and the gLocal probe")
    s.add_argument("--features", type=Path, required=True)
    s.add_argument("--stimuli", type=Path, required=True)
    s.add_argument("--judgements", type=Path, required=True, help="the judgements file (triplets, 2AFC, matrices)")
    s = stage("summarize", "scores store with bootstrap samples and ceilings, summary and recovery tables")
    s.add_argument("--encoding", type=Path, nargs="*", default=[])
    s.add_argument("--rsa", type=Path, nargs="*", default=[])
    s.add_argument("--decoding", type=Path, nargs="*", default=[])
    s.add_argument("--probe", type=Path, nargs="*", default=[])
    s.add_argument("--behaviour", type=Path, nargs="*", default=[])

    s = stage("curves", "one method's scores on random subsets of the stimuli, at several sizes")
    s.add_argument("--method", required=True, help="similarity, rsa or encoding")
    s.add_argument("--features", type=_named_path, nargs="+", required=True, metavar="MODEL=PATH")
    s.add_argument("--brain", type=Path, help="brain store (rsa, encoding)")
    s = stage("curves_summarize", "every sample-size curve as rows of curves.csv")
    s.add_argument("--curves", type=Path, nargs="*", default=[], help="curve stores")
    s = stage("curves_figure", "the figure of one sample-size curve")
    s.add_argument("--curve", type=Path, required=True, help="curve store")
    s = stage("train", "train one member of an ensemble (--out: its checkpoint) and read its layers on the probe set")
    s.add_argument("--stimuli", type=Path, required=True)
    s.add_argument("--teacher", type=Path, help="the teacher's features store (task.teacher)")
    s.add_argument("--features", type=Path, required=True, help="the member's features store (probe set)")
    s = stage("ensembles", "alignment among the members of each cell of one ensemble, and their test error")
    s.add_argument("--members", type=Path, nargs="+", required=True, help="the members' features stores")
    s = stage("ensembles_summary", "ensembles.csv and figures/ensembles.png (--out: the results folder)")
    s.add_argument("--ensembles", type=_named_path, nargs="+", required=True, metavar="NAME=PATH")
    s = stage("sweep", "noise curves of the swept datasets (sweep.csv)")
    s.add_argument("--scores", type=Path, required=True, help="summary store (scores.zarr)")
    s.add_argument("--recovery", type=Path, required=True, help="recovery.csv")
    s = stage("sweep_figure", "the noise-curve figure of one sweep")
    s.add_argument("--table", type=Path, required=True, help="sweep.csv")

    s = stage("figure", "draw one figure of the study from its stores")
    s.add_argument("--kind", required=True, choices=FIGURE_KINDS)
    s.add_argument("--scores", type=Path, help="summary store (scores.zarr)")
    for name in ("rsa", "encoding", "brain"):
        s.add_argument(f"--{name}", type=Path, nargs="*", default=[], help=f"{name} stores of one dataset")
    s.add_argument("--stimuli", type=Path, help="the dataset's stimulus store")
    s.add_argument("--similarity", type=_named_path, nargs="*", default=[], metavar="STIMSET=PATH",
                   help="similarity stores")
    s.add_argument("--behaviour", type=Path, nargs="*", default=[], help="behaviour stores")

    s = sub.add_parser("nsd-trials", help="NSD's trial table of one subject (TSV) from nsd_expdesign.mat")
    s.add_argument("--expdesign", type=Path, required=True, help="nsddata/experiments/nsd/nsd_expdesign.mat")
    s.add_argument("--subject", type=int, required=True, help="NSD subject, 1-8")
    s.add_argument("--id-format", default="nsd{nsd_id:05d}",
                   help="stimulus id of the 1-based 73k image id nsd_id (default nsd{nsd_id:05d}: nsd02951)")
    s.add_argument("--out", type=Path, required=True, help="the trial table to write (TSV)")

    s = sub.add_parser("layers", help="list a model's layers (names and module types; output shapes with --stimuli)",
                       description="List the layers of a model: from a study config and a model name "
                                   "(brainalign layers --config config/config.yaml --model cnn), or a model entry "
                                   "(--spec JSON). The config is not validated, so that layer names can be looked "
                                   "up while its 'layers' are still wrong.")
    model = s.add_mutually_exclusive_group(required=True)
    model.add_argument("--config", type=Path, help="a study config file (with --model)")
    model.add_argument("--spec", type=_json, help="the model's config entry (JSON)")
    s.add_argument("--model", help="the model's name under 'models' in --config")
    s.add_argument("--stimuli", type=Path, help="a stimulus store: also run one batch and print each layer's output shape")

    s = sub.add_parser("fetch-models", help="download the hub weights the models of a study name (Hugging Face "
                                            "hub ids, torchvision weights, open_clip tags) into the local caches "
                                            "($HF_HOME, $TORCH_HOME) that the jobs read offline")
    s.add_argument("files", type=Path, nargs="+", metavar="CONFIG", help="study config files, merged in order")

    for name in ("check", "check-config"):  # check-config: the former name
        s = sub.add_parser(name, help="validate a study config without running it: files read strictly (line and "
                                      "column of a YAML error, duplicate keys), merged in order, checked against "
                                      "config/schema.yaml (as the Snakefile does)" if name == "check" else
                                      "the former name of 'check'")
        s.add_argument("files", type=Path, nargs="+", metavar="CONFIG")
        s.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE",
                       help="overrides as Snakemake's --config takes them (seed=3 \"rsa={n_bootstrap: 50}\")")
        s.add_argument("--schema", type=Path, default=SCHEMA_PATH,
                       help="the config schema (default: the project's config/schema.yaml)")
    return p


def main(argv=None) -> int:
    """Run one stage. A failure is printed first as one line, ``brainalign <stage>: error: ...``
    naming the file, store or key at fault; an ``InputError`` or ``ConfigError`` ends there (status 1), any other
    error is raised on, so that its traceback follows that line."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    try:
        _run(args)
    except Exception as err:
        print(f"brainalign {args.stage}: error: {describe(err)}", file=sys.stderr, flush=True)
        if isinstance(err, NAMED) and not args.verbose:
            return 1
        raise
    return 0


def _run(args: argparse.Namespace) -> None:
    if args.stage in ("check", "check-config"):
        from .configfile import check_config_files, parse_overrides

        cfg = check_config_files(args.files, args.schema, overrides=parse_overrides(args.config))
        print(f"config OK: {len(cfg['stimuli'])} stimulus sets, {len(cfg['models'])} models, "
              f"{len(cfg['datasets'])} datasets; results in {cfg['results_dir']}")
        return
    if args.stage == "fetch-models":
        from .models.fetch import study_models, fetch_models

        for line in fetch_models(study_models(args.files)):
            print(line, flush=True)
        return
    if args.stage == "layers":
        from .layers_cli import print_layers

        print_layers(args)
        return
    if args.stage == "nsd-trials":
        from . import store
        from .brain.betas_trials import nsd_trials

        table = nsd_trials(args.expdesign, args.subject, id_format=args.id_format)
        store.atomic_file(args.out, lambda tmp: table.to_csv(tmp, sep="\t", index=False))
        print(f"{args.out}: {len(table)} trials of {table.stimulus_id.nunique()} images in "
              f"{table.session.nunique()} sessions ({int(table.shared.sum())} trials of shared images)")
        return
    module = importlib.import_module(f"brainalign.stages.{args.stage}")
    kwargs = {k: v for k, v in vars(args).items() if k not in ("stage", "verbose", "spec", "out", "seed")}
    for key in ("features", "similarity", "ensembles"):
        if isinstance(kwargs.get(key), list):
            kwargs[key] = dict(kwargs[key])
    module.run(complete_spec(args.stage, args.spec), out=args.out, seed=args.seed, **kwargs)


if __name__ == "__main__":
    sys.exit(main())
