"""The config schema (``config/schema.yaml``) as the one source of defaults and key documentation.

A key's default is its ``default`` annotation in the schema. An object whose own default is ``{}``
(a section such as ``rsa``) is filled, when absent, with the defaults of its keys; an object without
a default (``decoding``: off when absent) is not. :func:`defaults` reads them; :func:`key_lines`
describes the keys of a schema node for ``brainalign <stage> --help``.
"""

from __future__ import annotations

import copy
import functools
import textwrap
from pathlib import Path

import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"


@functools.lru_cache(maxsize=4)
def _load(path: str) -> dict:
    return yaml.safe_load(Path(path).read_text())


def load_schema(path=SCHEMA_PATH) -> dict:
    """The schema at ``path`` (read once, then cached: do not modify it)."""
    return _load(str(path))


def node(*keys: str, schema: dict | None = None) -> dict:
    """The schema of the config value at ``keys``: ``node("rsa")``, ``node("datasets", "*", "glm")``
    (``*``: the entries of a mapping of names), ``node("$defs", "model")``; ``$ref`` followed."""
    schema = load_schema() if schema is None else schema
    out = schema
    for key in keys:
        if key == "$defs":
            out = schema["$defs"]
            continue
        out = _resolve(out, schema)
        out = out["additionalProperties"] if key == "*" else (out.get("properties") or out)[key]
    return _resolve(out, schema)


def _resolve(entry: dict, schema: dict) -> dict:
    while isinstance(entry, dict) and "$ref" in entry and "properties" not in entry:
        target = schema
        for part in entry["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        entry = {**target, **{k: v for k, v in entry.items() if k != "$ref"}}
    return entry


def defaults(entry: dict, schema: dict | None = None) -> dict:
    """The default value of every key of the object schema ``entry`` that has one; a key whose
    default is ``{}`` gets the defaults of its own keys."""
    schema = load_schema() if schema is None else schema
    out = {}
    for key, sub in entry.get("properties", {}).items():
        sub = _resolve(sub, schema)
        if "default" in sub:
            value = copy.deepcopy(sub["default"])
            out[key] = defaults(sub, schema) if value == {} and "properties" in sub else value
    return out


def _kind(entry: dict) -> str:
    """A short type of a schema entry: its allowed values, or its JSON type."""
    if "enum" in entry:
        return " | ".join("null" if v is None else str(v) for v in entry["enum"])
    if "const" in entry:
        return str(entry["const"]).lower()
    if "oneOf" in entry:
        return " or ".join(_kind(e) for e in entry["oneOf"])
    kind = entry.get("type", "object" if "properties" in entry else "any")
    return " or ".join(kind) if isinstance(kind, list) else kind


def key_lines(entry: dict, schema: dict | None = None, prefix: str = "") -> list[str]:
    """One entry per key of the object schema ``entry``: ``key = default  [type]`` (``(required)``
    for a required key without a default), and its description on the lines below."""
    schema = load_schema() if schema is None else schema
    lines, required = [], set(entry.get("required", []))
    for key, sub in entry.get("properties", {}).items():
        sub = _resolve(sub, schema)
        if "default" in sub and sub["default"] != {}:
            value = f"= {yaml.safe_dump(sub['default'], default_flow_style=True, width=1000).strip().removesuffix('...').strip()}"
        else:
            value = "(required)" if key in required else ""
        head = f"  {prefix}{key} {value}".rstrip() + f"  [{_kind(sub)}]"
        about = textwrap.fill(" ".join(sub.get("description", "").split()), width=100, initial_indent=" " * 6,
                              subsequent_indent=" " * 6)
        lines.append(head + ("\n" + about if about else ""))
        if sub.get("properties") and "default" not in sub:  # a nested section: its keys too
            lines[-1] += "".join("\n" + line for line in key_lines(sub, schema, prefix=f"{prefix}{key}."))
    return lines
