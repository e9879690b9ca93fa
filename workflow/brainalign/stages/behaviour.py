"""Stage ``behaviour``: agreement of every layer of one model with one dataset of human judgements
(``modality: behaviour``), written as one store per dataset x model.

Triplets (``kind: triplets``), per layer:

* zero-shot odd-one-out accuracy with cosine and with dot similarity
  (:func:`brainalign.metrics.behaviour.odd_one_out_choices`): metrics ``odd_one_out_cosine``,
  ``odd_one_out_dot``, over every judgement;
* the gLocal probe (:mod:`brainalign.metrics.glocal_probe`): metric ``glocal_odd_one_out``, the
  accuracy of the transformed layer on the held-out triplets of an item-disjoint split, with the
  transform, the accuracy before it, and the regularisation chosen by cross-validation.

2AFC (``kind: two_afc``): ``two_afc_cosine``, the fraction of judgements where the option closer to
the reference by cosine similarity is the one people chose
(:func:`brainalign.metrics.behaviour.two_afc_choices`).

Similarity matrices (``kind: similarity``): ``rsa_spearman``, the mean over subjects of the Spearman
correlation of the layer's RDM (``rsa.rdm``) over the matrix's items with each subject's
dissimilarities (:func:`brainalign.metrics.rsa.rsa_scores`, bootstrap over items).

Intervals (:mod:`brainalign.metrics.behaviour_stats`): percentile intervals (``ci``) of
``n_bootstrap`` resamples over judgements (``ci_low``, ``ci_high``) and over items
(``item_ci_low``, ``item_ci_high``), the same draws for every layer and, as they depend only on the
seed and the judgements, for every model. The human ceiling: leave-one-response-out agreement with
the majority of repeated judgements, or the split-half reliability of the matrices.

Store: group ``agreement`` with ``score``, the four interval bounds, ``bootstrap_judgements`` and
``bootstrap_items`` (bootstrap, layer, metric), ``n`` (metric: judgements scored), ``correct``
(layer, similarity, judgement: 0/1 zero-shot agreement of triplets and 2AFC) and attributes
``ceiling`` with its interval ``ceiling_low``, ``ceiling_high`` (resamples of the repeated
judgements, or the range over split halves) and ``ceiling_n`` (responses or subjects behind it); root ``items``, ``choice`` and ``subject`` of the judgements read (rows
of the stimulus set); for triplets, one group per layer with the gLocal probe: ``weight``
(component, component_out), ``bias``, ``components`` (component, unit), ``mean`` (unit), ``cv_loss``
(lambda), ``test_item`` (stimulus), ``test_correct`` (test_judgement), attributes ``scale``,
``lam``, ``accuracy_before``, ``accuracy_after``.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import xarray as xr

from .. import store
from ..behaviour_io import SIMULATED_FORMAT, ItemMap, read_choices, read_matrices, resolved_format
from ..errors import InputError
from ..metrics.behaviour import odd_one_out_choices, two_afc_choices
from ..metrics.behaviour_stats import (bootstrap_accuracy, ceiling_interval, item_weights, judgement_draws,
                                       repeated_ceiling, split_half_ceiling)
from ..metrics.glocal_probe import fit_probe
from ..metrics.rdm import compute_rdm
from ..metrics.rsa import rsa_scores
from ._align import layer_rows

log = logging.getLogger(__name__)


def item_map(spec: dict, fmt: dict, stimuli: xr.Dataset) -> ItemMap:
    """File item numbers -> stimulus rows, as the dataset's ``judgements`` options state."""
    column = fmt.get("item_column", "")
    if column and column not in stimuli.coords:
        raise InputError(f"'judgements.item_column' is {column!r}, which is not a column of the stimulus table "
                         f"of set {spec['stimuli']!r} (columns: {sorted(c for c in stimuli.coords if c != 'stimulus')})")
    return ItemMap(stimuli.sizes["stimulus"], fmt.get("item_base", 0),
                   stimuli[column].values if column else None, column)


def _intervals(samples: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over the first axis, NaN samples ignored (NaN where every sample is: a
    matrix has no judgements to resample)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return tuple(np.nanquantile(samples, [(1 - ci) / 2, (1 + ci) / 2], axis=0))


def _agreement_group(layers: list[str], metrics: list[str], scores, boot_j, boot_i, n, ci: float) -> xr.Dataset:
    """The ``agreement`` group from (layer, metric) scores and (bootstrap, layer, metric) samples."""
    low, high = _intervals(boot_j, ci)
    item_low, item_high = _intervals(boot_i, ci)
    dims = ("layer", "metric")
    return xr.Dataset({"score": (dims, scores), "ci_low": (dims, low), "ci_high": (dims, high),
                       "item_ci_low": (dims, item_low), "item_ci_high": (dims, item_high),
                       "bootstrap_judgements": (("bootstrap", *dims), boot_j),
                       "bootstrap_items": (("bootstrap", *dims), boot_i), "n": ("metric", np.asarray(n))},
                      coords={"layer": layers, "metric": metrics})


def choice_agreement(kind: str, judgements, layers: dict[str, np.ndarray], spec: dict, seed: int):
    """``(agreement group, {layer: probe group})`` of triplets or 2AFC judgements (module docstring)."""
    opts = spec["behaviour"]
    items, choice = judgements.items, judgements.choice
    rng = np.random.default_rng(seed)
    draws = judgement_draws(len(items), opts["n_bootstrap"], rng)
    weights = item_weights(items, len(next(iter(layers.values()))), opts["n_bootstrap"], rng)
    sims = ("cosine", "dot") if kind == "triplets" else ("cosine",)
    metrics = [f"odd_one_out_{s}" for s in sims] + ["glocal_odd_one_out"] if kind == "triplets" else ["two_afc_cosine"]
    shape = (len(layers), len(metrics))
    scores, n = np.full(shape, np.nan), [len(items)] * len(sims) + [0] * (len(metrics) - len(sims))
    boot_j, boot_i = np.full((opts["n_bootstrap"], *shape), np.nan), np.full((opts["n_bootstrap"], *shape), np.nan)
    correct = np.zeros((len(layers), len(sims), len(items)), dtype=np.int8)
    probes = {}
    for li, (layer, x) in enumerate(layers.items()):
        for si, sim in enumerate(sims):
            model = (odd_one_out_choices(x, items, similarity=sim) if kind == "triplets"
                     else two_afc_choices(x, items, similarity=sim))
            correct[li, si] = model == choice
            scores[li, si] = correct[li, si].mean()
            boot_j[:, li, si], boot_i[:, li, si] = bootstrap_accuracy(correct[li, si], draws, weights)
        if kind == "triplets":
            probe = fit_probe(x, items, np.argmax(items == choice[:, None], axis=1), seed=seed, **opts["glocal"])
            probes[layer] = probe
            test = probe.test_rows
            m = len(sims)
            scores[li, m], n[m] = probe.after, len(test)
            sub_rng = np.random.default_rng([seed, 1])
            boot_j[:, li, m], boot_i[:, li, m] = bootstrap_accuracy(
                probe.test_correct, judgement_draws(len(test), opts["n_bootstrap"], sub_rng),
                item_weights(items[test], len(x), opts["n_bootstrap"], sub_rng))
            log.info("%s: gLocal lambda %g, held-out accuracy %.3f -> %.3f (%d test triplets)", layer, probe.lam,
                     probe.before, probe.after, len(test))
        log.info("%s: %s", layer, ", ".join(f"{m} {s:.3f}" for m, s in zip(metrics, scores[li])))
    group = _agreement_group(list(layers), metrics, scores, boot_j, boot_i, n, opts["ci"])
    group["correct"] = (("layer", "similarity", "judgement"), correct)
    group = group.assign_coords(similarity=list(sims))
    agree, sizes = repeated_ceiling(items, choice, reference_first=kind == "two_afc")
    ceiling, low, high = ceiling_interval(agree, sizes, opts["n_bootstrap"], opts["ci"], np.random.default_rng([seed, 2]))
    group.attrs.update(ceiling=ceiling, ceiling_low=low, ceiling_high=high, ceiling_n=int(sizes.sum()), kind=kind,
                       ceiling_formula="leave-one-response-out agreement with the majority of repeated judgements")
    return group, {layer: _probe_group(p, opts["glocal"]["lambdas"]) for layer, p in probes.items()}


def _probe_group(probe, lambdas) -> xr.Dataset:
    return xr.Dataset(
        {"weight": (("component", "component_out"), probe.weight), "bias": ("component_out", probe.bias),
         "components": (("component", "unit"), probe.components), "mean": ("unit", probe.mean),
         "cv_loss": ("lambda", probe.cv_loss), "test_item": ("stimulus", probe.test_items),
         "test_judgement": ("test_judgement", probe.test_rows), "test_correct": ("test_judgement", probe.test_correct)},
        coords={"lambda": np.asarray(lambdas, dtype=np.float64)},
        attrs={"scale": probe.scale, "lam": probe.lam, "accuracy_before": probe.before, "accuracy_after": probe.after,
               "description": "z = ((x - mean) @ components.T * scale) @ weight.T + bias; odd one out by dot product"})


def matrix_agreement(rdms: np.ndarray, rows: np.ndarray, layers: dict[str, np.ndarray], spec: dict, seed: int):
    """The ``agreement`` group of human similarity matrices (module docstring)."""
    opts = spec["behaviour"]
    i, j = np.triu_indices(len(rows), k=1)
    human = rdms[:, i, j]
    model = np.stack([compute_rdm(x[rows].reshape(len(rows), -1), spec["rsa"]["rdm"]) for x in layers.values()])
    result = rsa_scores(model, human if len(human) > 1 else human[0], "spearman", bootstrap="stimuli",
                        n_bootstrap=opts["n_bootstrap"], ci=opts["ci"], seed=seed)
    boot = result["bootstrap"][:, :, None]
    group = _agreement_group(list(layers), ["rsa_spearman"], result["score"][:, None], np.full_like(boot, np.nan),
                             boot, [len(human[0])], opts["ci"])
    ceiling, low, high = split_half_ceiling(human, opts["n_splits"], opts["ci"], np.random.default_rng(seed))
    group.attrs.update(ceiling=ceiling, ceiling_low=low, ceiling_high=high, ceiling_n=len(human), kind="similarity",
                       ceiling_formula="Spearman-Brown split-half reliability 2r/(1+r) of the subjects' mean RDMs")
    return group


def run(spec: dict, *, features, stimuli, judgements, out, seed: int) -> None:
    """Score every layer of ``features`` against the judgements file ``judgements``; write ``out``."""
    stim = store.open_dataset(stimuli)
    ids = stim.stimulus_id.values.astype(str)
    kind = spec["kind"]
    fmt = SIMULATED_FORMAT if "simulate_behaviour" in spec else resolved_format(spec.get("judgements", {}))
    items = item_map(spec, fmt, stim)
    layers = {layer: layer_rows(features, layer, ids) for layer in store.layer_names(features)}
    labels = {"dataset": spec["dataset"], "model": spec["model"], "kind": kind}
    root = xr.Dataset(coords={"stimulus_id": ("stimulus", ids)}, attrs=labels)
    if kind == "similarity":
        rdms, rows = read_matrices(judgements, fmt, items)
        groups = {"agreement": matrix_agreement(rdms, rows, layers, spec, seed)}
        root["matrix_stimulus"] = ("item", rows)
    else:
        read = read_choices(judgements, kind, fmt, items)
        agreement, probes = choice_agreement(kind, read, {k: v.reshape(len(v), -1) for k, v in layers.items()},
                                             spec, seed)
        groups = {"agreement": agreement, **probes}
        root = root.assign(items=(("judgement", "position"), read.items), choice=("judgement", read.choice),
                           subject=("judgement", read.subject))
    groups["agreement"].attrs.update(labels)
    store.write_tree(out, groups, stage="behaviour", params=spec, inputs=[features, stimuli, judgements], seed=seed,
                     root=root)
