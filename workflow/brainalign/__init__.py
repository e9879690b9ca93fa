"""brainalign: reproducible brain-model alignment studies.

Stage code lives in sub-packages that know nothing of Snakemake:
``brainalign.metrics`` (encoding, RSA, model-model similarity), ``brainalign.models``
(model sources and activation extraction), ``brainalign.brain`` (fMRI and simulation),
``brainalign.stimuli`` (rendered stimulus sets); ``brainalign.store`` owns every read and
write of a Zarr store, and ``brainalign.cli`` is the command line the rules call.
"""

__version__ = "0.1.0"
