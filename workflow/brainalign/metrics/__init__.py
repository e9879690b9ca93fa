"""The numerical core: every alignment metric, importable from here.

``from brainalign.metrics import linear_cka, rsa_scores, RidgeCV`` imports only the submodule that
defines the name, on first use (PEP 562 ``__getattr__``): some submodules pull in scikit-learn
or torch, which take seconds to import. :data:`SUBMODULES` lists which submodule holds each
public name; ``python -m brainalign.api_reference`` lists them with signatures (``docs/api.md``).
Three functions share their submodule's name and are reached through it, since importing the
submodule rebinds the package attribute: ``metrics.similarity.similarity``,
``metrics.similarity_null.similarity_null`` and ``metrics.noise_precision.noise_precision``.
"""

from __future__ import annotations

import importlib

SUBMODULES = {
    "alignment_fewshot": ("fit_quadratic", "alignment_vs_fewshot"),
    "behaviour": ("odd_one_out_choices", "odd_one_out_accuracy", "two_afc_choices"),
    "banded": ("BandedRidgeCV", "r2_score_split"),
    "cca": ("canonical_correlations", "svcca", "pwcca"),
    "cka": ("linear_cka", "rbf_cka", "hsic_biased", "hsic_unbiased", "median_pairwise_distance"),
    "glocal": ("loss_and_gradient", "fit_glocal", "transform", "triplet_logits", "odd_position_accuracy"),
    "group_stats": ("t_statistic", "benjamini_hochberg", "group_tests"),
    "neighbours": ("nearest_neighbours", "mutual_knn", "cknna"),
    "noise_precision": ("SHRINKAGE", "condition_residuals", "mahalanobis_rdm", "standardize_units"),
    "paired": ("percentile_interval", "indistinguishable", "subject_resamples", "two_factor_samples",
               "two_factor_bootstrap", "sign_flips", "sign_flip_p"),
    "probe": ("gram", "span_coordinates", "fit_predict", "outer_folds", "choose_C", "cv_accuracy", "nshot_draws",
              "nshot_accuracy"),
    "procrustes": ("procrustes_distance", "procrustes_angular", "procrustes_nuclear_norm"),
    "rdm": ("PATTERN_METHODS", "compute_rdm", "crossnobis_rdm", "pair_indices", "n_conditions_from_pairs"),
    "ridge": ("DEFAULT_ALPHAS", "RidgeCV", "cross_validated_encoding", "normalise_by_noise_ceiling"),
    "rsa": ("COMPARE_METHODS", "BOOTSTRAP_KINDS", "compare", "rsa_scores"),
    "rsa_stats": ("compare_resampled", "pool_rdms", "noise_ceiling", "bootstrap_stimuli", "bootstrap_subjects",
                  "permutation_test", "NoiseCeiling", "BootstrapResult", "PermutationResult", "pair_weights"),
    "sample_size": ("draw_subsets", "subset_rows", "subset_seed", "sub_rdm", "curve_band"),
    "similarity": ("METRICS", "DISTANCES", "ASYMMETRIC", "similarity_matrix", "cross_set_consistency"),
    "similarity_null": ("stimulus_permutations", "null_p_values"),
    "similarity_sets": ("symmetrised", "consistency_matrix", "tag_consistency", "similarity_gap"),
    "soft_matching": ("soft_matching_distance", "soft_matching_plan"),
    "time_resolved": ("bootstrap_time_course", "peak_latency", "rsa_time_course", "time_course_summary",
                      "time_resolved_encoding", "time_resolved_rdms", "time_resolved_rsa", "window_times"),
    "variance_partition": ("banded_encoding",),
}
_HOME = {name: module for module, names in SUBMODULES.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
