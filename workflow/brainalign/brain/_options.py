"""Building a stage's option dataclass from a config mapping."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields


def options_from_dict(cls, options: Mapping | None, kind: str):
    """``cls(**options)`` for the dataclass ``cls``; an unknown key is a ``ValueError`` that names
    it, the kind of options (``kind``, e.g. ``"glm"``) and the known keys."""
    options = dict(options or {})
    known = sorted(f.name for f in fields(cls))
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"unknown {kind} option(s) {unknown}; known: {known}")
    return cls(**options)
