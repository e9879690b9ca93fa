"""Model sources and activation extraction.

* :func:`load_model` (spec -> model with ``.module``, ``.preprocess``, ``.input_kind``,
  ``.describe()``), from the sources of :mod:`~brainalign.models.registry`;
* :func:`extract_features` (spec, stimuli -> features store) and :func:`list_layers`;
* :func:`validate_spec` and :data:`MODEL_SPEC_SCHEMA`, the JSON schema of one model spec.
"""

from .extract import extract_features, list_layers
from .registry import load_model
from .spec import MODEL_SPEC_SCHEMA, validate_spec

__all__ = ["MODEL_SPEC_SCHEMA", "extract_features", "list_layers", "load_model", "validate_spec"]
