"""Study config files read strictly: a duplicate key or a YAML syntax error is a
:class:`~brainalign.config.ConfigError` naming the file, line and column.

Plain YAML keeps the last of two equal keys (a second ``rsa:`` block silently replaces the first);
here it is an error naming both lines. Snakemake reads ``--configfile`` itself, leniently: the
Snakefile checks the same files again with :func:`check_config_files`, as ``brainalign check
FILE...`` does from the command line. A ``--config`` override of a nested key is given as a
mapping (``rsa={n_bootstrap: 50}``; Snakemake refuses dots in a key): :func:`typed_overrides`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .config import ConfigError, _merge, validate_config


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping."""


class _DuplicateKey(Exception):
    def __init__(self, key, line: int, first: int):
        super().__init__(key, line, first)
        self.key, self.line, self.first = key, line, first


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    first = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # keys merged in from an anchor (<<: *glm) may be overridden
        key = loader.construct_object(key_node, deep=True)
        if key in first:
            raise _DuplicateKey(key, key_node.start_mark.line + 1, first[key])
        first[key] = key_node.start_mark.line + 1
    loader.flatten_mapping(node)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_config_file(path) -> dict:
    """The mapping in the YAML (or JSON) file ``path``.

    Raises :class:`ConfigError` for a missing file, a syntax error (with its line and column), a
    duplicate key (with both lines), or a file whose top level is not a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {path}: cannot be read ({err})") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except _DuplicateKey as dup:
        raise ConfigError(f"config file {path}, line {dup.line}: duplicate key {dup.key!r} (first at line "
                          f"{dup.first}; YAML would keep only the last): merge the two or delete one") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"config file {path}{where}: YAML syntax error: {err.problem or err.context} "
                          f"(check the indentation, colons and brackets there)") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: the top level must be a mapping of keys (seed, stimuli, ...), "
                          f"got {type(data).__name__}")
    return data


def check_config_files(paths, schema_path, overrides=None) -> dict:
    """The study config of the files ``paths`` (later ones update earlier ones) with ``overrides``
    (``--config`` values, nested ones typed by :func:`typed_overrides`), read strictly and validated;
    raises :class:`ConfigError` naming the file and line, or the key, at fault."""
    config = {}
    for path in paths:
        config = _merge(config, load_config_file(path))  # later files update earlier ones, as in Snakemake
    config = _merge(config, typed_overrides(dict(overrides or {})))
    return validate_config(config, schema_path)


def typed_overrides(overrides: dict) -> dict:
    """Snakemake's ``--config`` values with the leaves of nested ones typed: Snakemake reads
    ``rsa={n_bootstrap: 50}`` with YAML's base loader, every leaf a string (``"50"``); here each such
    string is read again as YAML (``50``). A top-level value Snakemake has typed already."""
    def typed(value):
        if isinstance(value, dict):
            return {k: typed(v) for k, v in value.items()}
        if isinstance(value, list):
            return [typed(v) for v in value]
        if isinstance(value, str):
            try:
                return yaml.safe_load(value) if value else value
            except yaml.YAMLError:
                return value
        return value

    return {k: typed(v) if isinstance(v, (dict, list)) else v for k, v in overrides.items()}


def parse_overrides(items) -> dict:
    """``KEY=VALUE`` words (as Snakemake's ``--config`` takes them) as a mapping, each value read
    as YAML (``50`` an int, ``[a, b]`` a list, ``{n_bootstrap: 50}`` a mapping)."""
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key or "." in key:
            raise ConfigError(f"config override {item!r}: expected KEY=VALUE with a top-level key; a nested "
                              f"key as a mapping, e.g. rsa='{{n_bootstrap: 50}}'")
        try:
            out[key] = yaml.safe_load(text) if text else ""
        except yaml.YAMLError:
            out[key] = text
    return out
