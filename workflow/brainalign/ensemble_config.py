"""The ``ensembles`` section of a study config: defaults, cross-checks, and one member's spec.

An entry names a stimulus set, an architecture (:mod:`brainalign.models.trained`), a task
(:mod:`brainalign.ensemble_task`) and the grid ``snr`` x ``n_train`` x ``width`` x ``seeds``;
every point of the grid is one member, trained by its own job (rule ``train``).
"""

from __future__ import annotations

from .config_checks import layer_selected, n_stimuli

DEFAULTS = {"solver": "gd", "epochs": 200, "lr": 1e-3, "weight_decay": 0.0, "device": "auto",
            "metrics": ["cka_linear", "procrustes", "mutual_knn"]}
GRID = ("snr", "n_train", "width", "seeds")


def resolve_ensembles(cfg: dict, error: type[Exception]) -> None:
    """Fill every ensemble's defaults in place (``image_size``: the stimulus set's, else 32) and
    check its references; a problem is raised as ``error`` naming the key."""
    from .stimuli import stimulus_inputs  # not at import: brainalign.stimuli imports brainalign.errors

    for name, spec in cfg.get("ensembles", {}).items():
        where = f"ensembles.{name}"
        spec = cfg["ensembles"][name] = {**DEFAULTS, **spec, "name": name}
        stimset = cfg["stimuli"].get(spec["stimuli"])
        if stimset is None:
            raise error(f"config: key '{where}.stimuli' names stimulus set {spec['stimuli']!r}, which is not "
                        f"under 'stimuli' ({sorted(cfg['stimuli'])})")
        if "image" not in stimulus_inputs(stimset):
            raise error(f"config: key '{where}.stimuli': stimulus set {spec['stimuli']!r} has no images")
        spec.setdefault("image_size", stimset.get("image_size", 32))
        if spec["solver"] == "min_norm" and spec["architecture"] != "linear1":
            raise error(f"config: key '{where}.solver': 'min_norm' needs the architecture linear1, "
                        f"not {spec['architecture']!r}")
        teacher = spec["task"].get("teacher")
        if teacher is not None:
            model = cfg["models"].get(teacher["model"])
            if model is None:
                raise error(f"config: key '{where}.task.teacher.model' names model {teacher['model']!r}, which "
                            f"is not under 'models' ({sorted(cfg['models'])})")
            if teacher["model"] not in stimset.get("models", cfg["models"]):
                raise error(f"config: key '{where}.task.teacher.model': model {teacher['model']!r} does not see "
                            f"stimulus set {spec['stimuli']!r}")
            if not layer_selected(teacher["layer"], model, f"models.{teacher['model']}.layers"):
                raise error(f"config: key '{where}.task.teacher.layer': {teacher['layer']!r} is not one of the "
                            f"layers of model {teacher['model']!r} ({model['layers']})")
        n = n_stimuli(stimset)
        if n is not None and spec["n_test"] + max(spec["n_train"]) > n:
            raise error(f"config: key '{where}.n_train': n_test {spec['n_test']} + n_train {max(spec['n_train'])} "
                        f"is more than the {n} stimuli of {spec['stimuli']!r}")


def member_spec(spec: dict, snr: float, n_train: int, width: int, seed: int) -> dict:
    """The spec of one member of a resolved ensemble: the grid's lists replaced by its values, and
    without ``metrics`` (which only the alignment uses: changing them retrains nothing)."""
    return {**{k: v for k, v in spec.items() if k not in (*GRID, "metrics")}, "snr": float(snr), "n_train": int(n_train),
            "width": int(width), "seed": int(seed)}
