"""Image-folder stimulus sets: which files, with which metadata, and the pixels a model sees.

A set is described by a config entry ``stimuli.<name>`` with ``kind: image_folder`` and

* ``path``: the folder of images;
* ``table`` (optional): a stimulus table, TSV (``.tsv``) or CSV (``.csv``), one row per stimulus,
  columns ``stimulus_id`` and ``file`` (relative to ``path``) and any others (``category``,
  ``concept``, ...), each of which becomes a coordinate on ``stimulus`` (numbers when every
  value of the column is one). Without a table, the set is every image file directly in ``path``,
  or, when ``path`` holds subfolders of images, every image in them with its subfolder's name as
  its ``category``; the id is the file name without its suffix, in sorted order;
* ``caption_column`` (default ``caption``): the table column holding each stimulus' text, which
  becomes the ``text`` variable that text models read. The set has texts exactly when its table
  has that column; naming a column the table lacks is an error;
* ``resize`` (default ``center_crop``), ``image_size`` (default 224) and ``background`` (default
  mid grey, ``[128, 128, 128]``): how each image becomes a square of ``image_size`` pixels
  (:func:`square_image`).

Ids are unique: two files with one id (``a.png`` and ``a.jpg``, or two table rows) are an error
naming both files; a table row whose file is missing, a missing column, an unreadable image, all
are one-line errors naming the file (and column) at fault.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from .errors import reading

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
RESIZE_MODES = ("center_crop", "pad", "squash")
DEFAULT_RESIZE = "center_crop"
DEFAULT_BACKGROUND = (128, 128, 128)
DEFAULT_CAPTION_COLUMN = "caption"
TABLE_SEPARATORS = {".tsv": "\t", ".csv": ","}
# names a table column cannot take: the set's variables and dimensions, and the dimensions and
# coordinates of the stores its columns are copied into (features, RSA, MEG averages, meg_align)
RESERVED_COLUMNS = {"image", "text", "channel", "x", "y", "stimulus", "unit", "unit_name", "layer", "roi",
                    "time", "pair", "pair_i", "pair_j", "bootstrap", "n_trials", "fold_of_stimulus"}
_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
_WHERE = "stimuli image_folder"


# ------------------------------------------------------------------------------ which files
def read_table(table) -> pd.DataFrame:
    """The stimulus table as strings (every cell; empty cells stay empty strings)."""
    table = Path(table)
    sep = TABLE_SEPARATORS.get(table.suffix.lower())
    if sep is None:
        raise ValueError(f"{_WHERE}: table {table} is neither .tsv nor .csv")
    if not table.is_file():
        raise ValueError(f"{_WHERE}: table {table} does not exist")
    frame = pd.read_csv(table, sep=sep, dtype=str, keep_default_na=False)
    for column in ("stimulus_id", "file"):
        if column not in frame.columns:
            raise ValueError(f"{_WHERE}: table {table} has no column {column!r} (columns: {list(frame.columns)})")
    reserved = sorted(RESERVED_COLUMNS & set(frame.columns))
    if reserved:
        raise ValueError(f"{_WHERE}: table {table}: column name(s) {reserved} are reserved; rename them")
    if frame.empty:
        raise ValueError(f"{_WHERE}: table {table} has no rows")
    return frame


def _unique_ids(ids, files, where) -> None:
    """ValueError naming both files of the first id given twice."""
    first = {}
    for sid, f in zip(ids, files):
        if sid in first:
            raise ValueError(f"{_WHERE}: stimulus id {sid!r} is given twice in {where}: {first[sid]} and {f}")
        first[sid] = f


def _images(folder: Path) -> list[Path]:
    """The image files directly in ``folder`` (by suffix; hidden files, such as macOS's ``._*``
    resource forks, left out), sorted by name."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def list_stimuli(spec: dict) -> pd.DataFrame:
    """One row per stimulus, in set order: ``stimulus_id``, ``file`` (the image, relative to
    ``path``) and the metadata columns (the table's other columns, or ``category`` from
    subfolders). Reads no pixels, so it is cheap enough for config validation and for planning."""
    folder = Path(spec["path"])
    if not folder.is_dir():
        raise ValueError(f"{_WHERE}: folder {folder} does not exist")
    if "table" in spec:
        frame = read_table(spec["table"])
        _unique_ids(frame["stimulus_id"], frame["file"], f"table {spec['table']}")
        paths = [folder / f for f in frame["file"]]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise ValueError(f"{_WHERE}: table {spec['table']} names missing image file(s) {missing[:5]}"
                             f"{' ...' if len(missing) > 5 else ''}")
        return frame
    subfolders = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".") and _images(d))
    if subfolders:
        loose = _images(folder)
        if loose:
            raise ValueError(f"{_WHERE}: {loose[0]} lies beside the category subfolders of {folder}; "
                             "move it into one, or give a table")
        rows = [(p.stem, f"{d.name}/{p.name}", d.name) for d in subfolders for p in _images(d)]
        frame = pd.DataFrame(rows, columns=["stimulus_id", "file", "category"])
    else:
        frame = pd.DataFrame([(p.stem, p.name) for p in _images(folder)], columns=["stimulus_id", "file"])
    if frame.empty:
        raise ValueError(f"{_WHERE}: no image files in {folder} (suffixes {sorted(IMAGE_SUFFIXES)})")
    _unique_ids(frame["stimulus_id"], [folder / f for f in frame["file"]], str(folder))
    return frame


def caption_column(spec: dict, frame: pd.DataFrame) -> str | None:
    """The column that holds the texts, or None when the set has none (module docstring)."""
    column = spec.get("caption_column", DEFAULT_CAPTION_COLUMN)
    if column in frame.columns:
        return column
    if "caption_column" in spec:
        where = f"table {spec['table']}" if "table" in spec else f"folder {spec['path']} (no table)"
        raise ValueError(f"{_WHERE}: caption_column {column!r} is not a column of {where}")
    return None


def input_files(spec: dict) -> list[Path]:
    """Every file the set is built from: the table (if any) and every image."""
    images = [Path(spec["path"]) / f for f in list_stimuli(spec)["file"]]
    return ([Path(spec["table"])] if "table" in spec else []) + images


# ------------------------------------------------------------------------------ pixels
def read_rgb(path, background=DEFAULT_BACKGROUND) -> np.ndarray:
    """An image file as uint8 RGB ``(height, width, 3)``.

    * 16-bit images (PIL modes ``I;16*`` and ``I``, values 0-65535) are scaled, not clipped:
      ``v8 = round(v16 * 255 / 65535)``;
    * grayscale (``L``, ``1``, 16-bit) is repeated into the three channels;
    * transparency (an alpha channel, or a palette's transparent colour) is composited on
      ``background`` (RGB, 0-255): ``c = round(a * c_image + (1 - a) * background)``, ``a``
      the alpha over 255;
    * palette, CMYK and other modes are converted to RGB by PIL. Floating-point images have no
      defined range and are an error.
    """
    with reading(path, "an image", "replace the file or move it out of the folder", label=_WHERE):
        with Image.open(path) as im:
            im.load()
    if im.mode == "F":
        raise ValueError(f"{_WHERE}: image {path} holds floating-point pixels (mode F); save it as 8- or 16-bit")
    if im.mode in _SIXTEEN_BIT:
        values = np.asarray(im, dtype=np.float64)
        if values.min() < 0 or values.max() > 65535:
            raise ValueError(f"{_WHERE}: image {path} (mode {im.mode}) has values outside 0-65535")
        grey = np.rint(values * (255 / 65535)).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float64)
        alpha = rgba[:, :, 3:] / 255
        mixed = alpha * rgba[:, :, :3] + (1 - alpha) * np.asarray(background, dtype=np.float64)
        return np.rint(mixed).astype(np.uint8)
    return np.asarray(im.convert("RGB"))


def square_image(rgb: np.ndarray, size: int, resize: str = DEFAULT_RESIZE,
                 background=DEFAULT_BACKGROUND) -> np.ndarray:
    """An RGB image as a ``size`` x ``size`` square (bicubic resampling, antialiased when shrinking).

    * ``center_crop`` (default): scale so that the shorter side is ``size`` and keep the central
      square (PIL ``ImageOps.fit``). This is the evaluation transform of most image models
      (resize, then centre crop), keeps the aspect ratio and fills the model's input with image;
      it drops the ends of the longer side.
    * ``pad``: scale so that the longer side is ``size`` and centre it on a square of
      ``background`` (``ImageOps.pad``): nothing is lost, at the cost of uniform borders.
    * ``squash``: scale each side to ``size`` independently: everything kept, shapes distorted.

    Models then resize the square to their own input size (``brainalign.models.images``), which
    keeps its aspect ratio; an ``image_size`` equal to the model's saves that second resampling.
    """
    im = Image.fromarray(rgb)
    if resize == "center_crop":
        im = ImageOps.fit(im, (size, size), method=Image.Resampling.BICUBIC)
    elif resize == "pad":
        im = ImageOps.pad(im, (size, size), method=Image.Resampling.BICUBIC, color=tuple(background))
    elif resize == "squash":
        im = im.resize((size, size), Image.Resampling.BICUBIC)
    else:
        raise ValueError(f"{_WHERE}: resize {resize!r} is not one of {RESIZE_MODES}")
    return np.asarray(im)


def load_images(paths, *, size: int, resize: str = DEFAULT_RESIZE, background=DEFAULT_BACKGROUND) -> np.ndarray:
    """uint8 ``(n, size, size, 3)``: every file read (:func:`read_rgb`) and squared (:func:`square_image`)."""
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for n, path in enumerate(paths):
        out[n] = square_image(read_rgb(path, background), size, resize, background)
    return out
