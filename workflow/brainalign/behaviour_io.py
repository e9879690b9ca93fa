"""Reading human judgements (``modality: behaviour`` datasets): triplets, similarity matrices, 2AFC.

Every reader returns rows of the stimulus set (indices into the set's stimulus order), never the
file's own item numbers, so the stage can pair judgements with a layer's features directly.

Item numbers
------------
A file names items by integer numbers whose base is STATED in the config (``item_base: 0`` or
``1``), never guessed. Item ``v`` is

* without ``item_column``: the ``(v - item_base)``-th stimulus of the set, in the set's order;
* with ``item_column``: the stimulus whose stimulus-table column ``item_column`` (a coordinate of
  the stimulus store) holds ``v`` (the column uses the file's own numbering).

An item outside ``[item_base, item_base + n_stimuli)``, or absent from ``item_column``, is an
error naming the file and the column.

Triplets (``kind: triplets``)
-----------------------------
A table (TSV, CSV or whitespace-separated; with or without a header) with three item columns,
a choice column and optionally a subject column. ``choice`` states what the choice column holds:

* ``item``: the number of the item chosen as the odd one out (one of the row's three);
* ``position``: where the odd one out stands in the row, 1, 2 or 3;
* ``third``: there is no choice column, the third item is the odd one out (the order of the
  THINGS/SPoSE/VICE files: the first two items are the pair judged most similar).

Preset ``things`` (:data:`PRESETS`): the THINGS odd-one-out files of SPoSE and VICE
(``trainset.txt``, ``testset.txt``): whitespace-separated, no header, ``item1 item2 item3``
(optionally a fourth column, the subject), 0-based THINGS concept numbers (1,854 concepts, in
the order of the THINGS concept table), the third item the odd one out.

2AFC (``kind: two_afc``)
------------------------
Columns reference, option A, option B and the choice (``item``: the chosen option's number;
``position``: 1 = A, 2 = B), as in NIGHTS-style perceptual judgements: which option is more
similar to the reference.

Similarity matrices (``kind: similarity``)
------------------------------------------
A square matrix ``(n, n)`` or a stack ``(n_subjects, n, n)`` in ``.npy``, ``.csv`` (no header,
comma-separated) or ``.mat`` (``key``); ``measure`` says whether larger means more similar
(``similarity``) or less (``dissimilarity``); ``item_ids`` (a text file, one item number per
line, in row order) names the rows, default ``item_base, item_base + 1, ...``. Matrices are
returned as dissimilarities (a similarity matrix negated), so that they compare with RDMs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, reading

KINDS = ("triplets", "similarity", "two_afc")
CHOICES = {"triplets": ("item", "position", "third"), "two_afc": ("item", "position")}
DEFAULT_ITEMS = {"triplets": ["item1", "item2", "item3"], "two_afc": ["reference", "option_a", "option_b"]}
PRESETS = {
    "things": {"sep": "whitespace", "header": False, "names": ["item1", "item2", "item3", "subject"],
               "items": ["item1", "item2", "item3"], "item_base": 0, "choice": "third"},
}
SEPARATORS = {"tab": "\t", "comma": ",", "whitespace": r"\s+"}


@dataclass(frozen=True)
class Judgements:
    """Judgements as rows of the stimulus set.

    ``items``: int (n_judgements, 3), the triplet's items or (reference, option A, option B);
    ``choice``: int (n_judgements,), the chosen stimulus (the odd one out, or the option judged
    closer to the reference); ``subject``: str (n_judgements,), "" where the file has none.
    """
    items: np.ndarray
    choice: np.ndarray
    subject: np.ndarray


def resolved_format(spec: dict) -> dict:
    """A dataset's ``judgements`` options with its preset filled in (the given keys win) and the
    defaults: header true, tab-separated, the kind's default item columns, choice column
    ``choice``, subject column ``subject``."""
    given = dict(spec)
    preset = PRESETS[given.pop("preset")] if "preset" in given else {}
    return {"sep": "tab", "header": True, "choice_column": "choice", "subject_column": "subject", **preset, **given}


class ItemMap:
    """File item numbers -> rows of the stimulus set (module docstring)."""

    def __init__(self, n_stimuli: int, item_base: int, item_values=None, item_column: str = ""):
        self.base, self.n, self.column = int(item_base), int(n_stimuli), item_column
        self.lookup = None
        if item_values is not None:
            values = np.asarray(item_values)
            if values.dtype.kind == "f" and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
                values = values.astype(np.int64)
            if values.dtype.kind not in "iu":
                raise InputError(f"stimulus table column {item_column!r} holds {values.dtype} values, not item "
                                 "numbers (integers)")
            if len(np.unique(values)) != len(values):
                raise InputError(f"stimulus table column {item_column!r} names an item twice")
            self.lookup = pd.Series(np.arange(len(values)), index=values)

    def rows(self, values: np.ndarray, where: str) -> np.ndarray:
        """Rows of ``values`` (item numbers); ``where`` names the file and column in errors."""
        values = np.asarray(values)
        if self.lookup is not None:
            found = self.lookup.reindex(values.ravel())
            if found.isna().any():
                bad = values.ravel()[found.isna().to_numpy()]
                raise InputError(f"{where}: item(s) {_few(bad)} are not in stimulus table column "
                                 f"{self.column!r}")
            return found.to_numpy(dtype=np.int64).reshape(values.shape)
        rows = values.astype(np.int64) - self.base
        outside = (rows < 0) | (rows >= self.n)
        if outside.any():
            raise InputError(f"{where}: item(s) {_few(values[outside])} are outside [{self.base}, "
                             f"{self.base + self.n - 1}] (item_base {self.base}, {self.n} stimuli)")
        return rows


def _few(values) -> str:
    values = list(dict.fromkeys(np.asarray(values).ravel().tolist()))
    return ", ".join(map(str, values[:5])) + (f" ... ({len(values)} in all)" if len(values) > 5 else "")


def read_table(path, fmt: dict) -> pd.DataFrame:
    """The judgement table at ``path`` as text columns (``fmt``: :func:`resolved_format`)."""
    sep = SEPARATORS.get(fmt["sep"], fmt["sep"])
    with reading(path, "a judgement table", "check 'judgements.sep', 'header' and 'names'"):
        table = pd.read_csv(path, sep=sep, header=0 if fmt["header"] else None, dtype=str,
                            engine="python" if len(sep) > 1 else "c", keep_default_na=False)
    if not fmt["header"]:
        names = list(fmt.get("names", []))
        if table.shape[1] > len(names):
            raise InputError(f"{path}: {table.shape[1]} columns but 'judgements.names' names {len(names)} "
                             f"({names}); name every column of a file without a header")
        table.columns = names[:table.shape[1]]
    return table


def _integer_column(table: pd.DataFrame, column: str, path) -> np.ndarray:
    if column not in table:
        raise InputError(f"{path}: no column {column!r} (columns: {list(table.columns)})")
    values = pd.to_numeric(table[column].str.strip(), errors="coerce")
    bad = values.isna() | (values != values.round())
    if bad.any():
        raise InputError(f"{path}, column {column!r}: row(s) {_few(np.flatnonzero(bad.to_numpy()))} do not hold "
                         f"an integer item number (e.g. {table[column][bad].iloc[0]!r})")
    return values.to_numpy(dtype=np.int64)


def read_choices(path, kind: str, fmt: dict, items: ItemMap) -> Judgements:
    """Read a triplet or 2AFC file (module docstring) as :class:`Judgements`."""
    table = read_table(path, fmt)
    item_columns = list(fmt.get("items", DEFAULT_ITEMS[kind]))
    numbers = np.stack([_integer_column(table, c, path) for c in item_columns], axis=1)
    rows = np.stack([items.rows(numbers[:, k], f"{path}, column {c!r}") for k, c in enumerate(item_columns)], axis=1)
    repeated = (rows[:, 0] == rows[:, 1]) | (rows[:, 0] == rows[:, 2]) | (rows[:, 1] == rows[:, 2])
    if repeated.any():
        raise InputError(f"{path}, columns {item_columns}: row(s) {_few(np.flatnonzero(repeated))} repeat an item "
                         f"(a {kind.replace('_', ' ')} needs three distinct items)")
    choice = _chosen(table, kind, fmt, numbers, rows, path)
    column = fmt["subject_column"]
    subject = table[column].to_numpy(dtype=str) if column and column in table else np.full(len(table), "")
    return Judgements(rows, choice, subject)


def _chosen(table, kind: str, fmt: dict, numbers, rows, path) -> np.ndarray:
    """The chosen stimulus row of every judgement, as ``fmt['choice']`` states."""
    how = fmt["choice"]
    if how == "third":
        if kind != "triplets":
            raise InputError(f"{path}: 'judgements.choice: third' applies to triplets only")
        return rows[:, 2].copy()
    column = fmt["choice_column"]
    values = _integer_column(table, column, path)
    first = 0 if kind == "triplets" else 1  # 2AFC: the options are columns 1 and 2
    if how == "position":
        allowed = np.arange(1, 4 - first)
        bad = ~np.isin(values, allowed)
        if bad.any():
            raise InputError(f"{path}, column {column!r}: choice(s) {_few(values[bad])} are not a position "
                             f"{allowed.tolist()} ('judgements.choice: position')")
        return rows[np.arange(len(rows)), values - 1 + first]
    hit = numbers[:, first:] == values[:, None]
    bad = ~hit.any(axis=1)
    if bad.any():
        raise InputError(f"{path}, column {column!r}: row(s) {_few(np.flatnonzero(bad))} choose an item that is "
                         f"not one of the row's {'three items' if kind == 'triplets' else 'two options'} "
                         f"('judgements.choice: item'; e.g. {values[bad][0]})")
    return rows[np.arange(len(rows)), first + np.argmax(hit, axis=1)]


def read_matrices(path, fmt: dict, items: ItemMap) -> tuple[np.ndarray, np.ndarray]:
    """``(dissimilarities (n_subjects, n, n) float64, rows (n,))`` of a similarity file (module
    docstring)."""
    path = Path(path)
    with reading(path, "a similarity matrix (.npy, .csv, .mat)", "check 'judgements.file' and 'key'"):
        if path.suffix == ".npy":
            matrix = np.load(path, allow_pickle=False)
        elif path.suffix == ".csv":
            matrix = np.loadtxt(path, delimiter=",", ndmin=2)
        elif path.suffix == ".mat":
            from scipy.io import loadmat

            content = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
            key = fmt.get("key") or (next(iter(content)) if len(content) == 1 else None)
            if key not in content:
                raise InputError(f"{path}: give 'judgements.key', one of {sorted(content)}")
            matrix = content[key]
        else:
            raise InputError(f"{path}: a similarity matrix must be .npy, .csv or .mat, not {path.suffix!r}")
    matrix = np.asarray(matrix, dtype=np.float64)
    matrix = matrix[None] if matrix.ndim == 2 else matrix
    if matrix.ndim != 3 or matrix.shape[1] != matrix.shape[2]:
        raise InputError(f"{path}: expected a square matrix (n, n) or a stack (n_subjects, n, n), got shape "
                         f"{matrix.shape}")
    if not np.all(np.isfinite(matrix)) or not np.allclose(matrix, matrix.transpose(0, 2, 1), atol=1e-8):
        raise InputError(f"{path}: the matrix must be finite and symmetric")
    n = matrix.shape[1]
    if fmt.get("item_ids"):
        ids_path = fmt["item_ids"]
        with reading(ids_path, "item numbers, one per line", "check 'judgements.item_ids'"):
            numbers = np.loadtxt(ids_path, dtype=np.int64, ndmin=1)
        if len(numbers) != n:
            raise InputError(f"{ids_path}: {len(numbers)} item numbers for a {n} x {n} matrix in {path}")
        where = f"{ids_path}"
    else:
        numbers, where = np.arange(items.base, items.base + n), f"{path} (rows)"
    rows = items.rows(numbers, where)
    if len(np.unique(rows)) != n:
        raise InputError(f"{where}: an item names two rows of the matrix")
    return (-matrix if fmt.get("measure", "dissimilarity") == "similarity" else matrix), rows


def write_triplets(path, items: np.ndarray, odd: np.ndarray, subject: np.ndarray) -> None:
    """Write triplets as a real file would be: TSV with header ``item1 item2 item3 choice subject``,
    1-based item numbers (stimulus order), the choice as a position 1-3 (how a simulation writes
    it; :data:`SIMULATED_FORMAT` reads it)."""
    from .store import atomic_file

    position = np.argmax(items == odd[:, None], axis=1) + 1
    table = pd.DataFrame({"item1": items[:, 0] + 1, "item2": items[:, 1] + 1, "item3": items[:, 2] + 1,
                          "choice": position, "subject": subject})
    atomic_file(path, lambda tmp: table.to_csv(tmp, sep="\t", index=False))


SIMULATED_FORMAT = {"sep": "tab", "header": True, "items": ["item1", "item2", "item3"], "choice_column": "choice",
                    "subject_column": "subject", "item_base": 1, "choice": "position"}
