"""Stage functions: read input stores, call the numerical core, write one output store.

Each function here is what one ``brainalign <stage>`` command runs, and can be called from a
notebook on the same paths. Only these functions (and ``brainalign.cli``) know about files.
Every stage module is an attribute of this package, imported on first use
(``import brainalign.stages as st; st.rsa.run(...)``); its ``run`` function is the stage.
"""

from __future__ import annotations

import importlib

__all__ = ["banded", "behaviour", "curves", "curves_figure", "curves_summarize", "decode", "encoding", "ensembles",
           "ensembles_summary", "features", "figure", "fmri", "gather", "meg", "meg_align", "meg_summarize", "probe",
           "probe_compare", "rdms", "roi_rdms", "rsa", "similarity", "simulate", "simulate_behaviour", "simulate_meg",
           "stimuli", "summarize", "sweep", "sweep_figure", "train"]


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return importlib.import_module(f"{__name__}.{name}")  # the import binds it on this package


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
