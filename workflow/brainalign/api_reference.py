"""The Python API reference, generated from the docstrings: ``python -m brainalign.api_reference``.

Prints Markdown (the committed copy is ``docs/api.md``; a test checks it is up to date): every
public name of :mod:`brainalign.metrics` (:data:`brainalign.metrics.SUBMODULES`), grouped by the
submodule that defines it, and the ``run`` function of every stage module of
:mod:`brainalign.stages`, each with its signature and the first paragraph of its docstring.
``--out PATH`` writes the file instead (what to run after changing a public signature or
docstring).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
from pathlib import Path

from . import metrics, stages

HEADER = """# Python API

Generated from the docstrings by `python -m brainalign.api_reference --out docs/api.md`; do not
edit by hand. Every name under `brainalign.metrics` is importable from the package itself
(`from brainalign.metrics import linear_cka`); each stage is `brainalign.stages.<stage>.run`
(`import brainalign.stages as st; st.rsa.run(spec, brain=..., features=..., out=..., seed=0)`),
the function the command `brainalign <stage>` calls.
"""


class _Annotation(str):
    """An annotation kept as text (``from __future__ import annotations``), shown without quotes."""

    def __repr__(self) -> str:
        return str(self)


def signature(obj) -> str:
    """``(a, b: int = 1) -> float``: the signature with string annotations shown as written."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    sig = inspect.signature(target)
    params = [p.replace(annotation=_Annotation(p.annotation)) if isinstance(p.annotation, str) else p
              for p in sig.parameters.values()]
    if inspect.isclass(obj):
        params = params[1:]  # self
    ret = sig.return_annotation
    ret = inspect.Signature.empty if inspect.isclass(obj) else (_Annotation(ret) if isinstance(ret, str) else ret)
    return " ".join(str(sig.replace(parameters=params, return_annotation=ret)).split())


def summary(obj) -> str:
    """The docstring's first paragraph, on one line."""
    return " ".join((inspect.getdoc(obj) or "").split("\n\n")[0].split())


def _entry(qualname: str, obj) -> str:
    kind = "class " if inspect.isclass(obj) else ""
    return f"- `{kind}{qualname}{signature(obj)}`  \n  {summary(obj)}"


def reference() -> str:
    """The whole reference as Markdown."""
    lines = [HEADER, "## brainalign.metrics", ""]
    for module_name, names in metrics.SUBMODULES.items():
        module = importlib.import_module(f"brainalign.metrics.{module_name}")
        lines += [f"### `brainalign.metrics.{module_name}`", "", summary(module), ""]
        constants = [n for n in names if not callable(getattr(module, n))]
        lines += [_entry(n, getattr(module, n)) for n in names if n not in constants]
        extra = getattr(module, module_name, None)  # a function named like its module
        if callable(extra) and module_name in getattr(module, "__all__", ()):
            lines.append(_entry(f"{module_name}.{module_name}", extra))
        if constants:
            lines.append("- constants: " + ", ".join(f"`{n}`" for n in constants))
        lines.append("")
    lines += ["## brainalign.stages", ""]
    for stage in stages.__all__:
        module = importlib.import_module(f"brainalign.stages.{stage}")
        lines += [_entry(f"{stage}.run", module.run)]
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m brainalign.api_reference", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="write the reference here instead of printing it")
    args = parser.parse_args(argv)
    text = reference()
    if args.out:
        args.out.write_text(text)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
