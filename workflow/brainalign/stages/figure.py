"""Stage ``figure``: draw one figure of a study from its stores (see :mod:`brainalign.figures`).

``kind`` picks the figure and the stores it reads:

* ``score_by_layer``: the summary store ``scores``;
* ``rdms``: the RSA stores of one dataset (every subject x model) and its ``stimuli`` store;
* ``brain_map``: the encoding and brain stores of one dataset (``spec``: its config entry);
* ``model_similarity``, ``similarity_consistency``: the similarity stores (``NAME=PATH``,
  one per stimulus set);
* ``behaviour``: the behaviour stores (agreement with human judgements).
"""

from __future__ import annotations

import logging

from .. import store

log = logging.getLogger(__name__)
KINDS = ("score_by_layer", "rdms", "brain_map", "model_similarity", "similarity_consistency", "behaviour")


def _by_subject(paths) -> dict:
    """``{subject: [stores]}`` opened as trees, by their root attribute ``subject``."""
    out = {}
    for p in paths:
        tree = store.open_tree(p)
        out.setdefault(tree.attrs["subject"], []).append(tree)
    return out


def run(spec: dict, *, kind: str, out, seed: int, scores=None, rsa=(), encoding=(), brain=(), stimuli=None,
        similarity=None, behaviour=()) -> None:
    """Draw the figure ``kind`` (module docstring) to the PNG ``out``."""
    if kind == "score_by_layer":
        from ..figures.score_by_layer import plot_score_by_layer

        plot_score_by_layer(store.open_dataset(scores), out)
    elif kind == "rdms":
        from ..figures.rdms import plot_rdms

        plot_rdms([store.open_dataset(p) for p in rsa], store.open_dataset(stimuli), out,
                  dataset=spec.get("dataset", ""))
    elif kind == "brain_map":
        from ..figures.brain_map import plot_brain_map

        brains = {s: t[0] for s, t in _by_subject(brain).items()}
        plot_brain_map(_by_subject(encoding), brains, out, mni_space=str(spec.get("space", "")).startswith("MNI152"),
                       dataset=spec.get("dataset", ""))
    elif kind in ("model_similarity", "similarity_consistency"):
        from ..figures.model_similarity import plot_consistency, plot_similarity_matrices

        stores = {name: store.open_dataset(p) for name, p in similarity.items()}
        (plot_similarity_matrices if kind == "model_similarity" else plot_consistency)(stores, out)
    elif kind == "behaviour":
        from ..figures.behaviour import plot_behaviour

        plot_behaviour([store.open_dataset(p, group="agreement") for p in behaviour], out)
    else:
        raise ValueError(f"figure kind {kind!r} is not one of {KINDS}")
    log.info("wrote %s", out)
