"""The ``brainalign`` command line: one subcommand per stage, as the rules call them.

Every stage takes its resolved config section as JSON (``--spec``), its input paths, and the
output path; it can be run by hand on the same paths. ``brainalign layers`` lists a model's
layers with their output shapes.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from pathlib import Path

from .errors import NAMED, describe
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
        s = sub.add_parser(name, help=help_)
        s.add_argument("--spec", type=_json, required=True, help="the stage's resolved config (JSON)")
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
    s.add_argument("--behaviour", type=Path, nargs="*", default=[])

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

    s = sub.add_parser("layers", help="list a model's layers and their output shapes")
    s.add_argument("--spec", type=_json, required=True, help="the model's config entry (JSON)")
    s.add_argument("--stimuli", type=Path, required=True, help="a stimulus store (one batch is used)")

    s = sub.add_parser("check-config", help="read study config files strictly (line and column of a YAML "
                                            "error, duplicate keys) and validate them, merged in order")
    s.add_argument("files", type=Path, nargs="+", metavar="CONFIG")
    s.add_argument("--schema", type=Path, default=Path(__file__).resolve().parents[2] / "config" / "schema.yaml",
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
    if args.stage == "check-config":
        from .configfile import check_config_files

        cfg = check_config_files(args.files, args.schema)
        print(f"config OK: {len(cfg['stimuli'])} stimulus sets, {len(cfg['models'])} models, "
              f"{len(cfg['datasets'])} datasets; results in {cfg['results_dir']}")
        return
    if args.stage == "layers":
        from . import store
        from .models.extract import list_layers

        for name, shape in list_layers(args.spec, store.open_dataset(args.stimuli)):
            print(f"{name}\t{tuple(shape)}")
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
    for key in ("features", "similarity"):
        if isinstance(kwargs.get(key), list):
            kwargs[key] = dict(kwargs[key])
    module.run(args.spec, out=args.out, seed=args.seed, **kwargs)


if __name__ == "__main__":
    sys.exit(main())
