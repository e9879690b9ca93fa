"""Stimulus sets rendered into exactly the arrays a model sees.

A stimulus set is an ``xarray.Dataset`` with dimension ``stimulus`` and coordinate
``stimulus_id`` (str), holding ``image`` (stimulus, y, x, channel; uint8 RGB) and/or ``text``
(stimulus; str). Per-stimulus attributes (shape, colour, category, ...) are further
coordinates on ``stimulus``. Three kinds are built:

* ``shapes``: a procedural set, every combination of shape x colour x position x size,
  drawn on a noisy grey background with a seeded jitter, with a caption per image in one of
  several wordings ("a small red square on the left", "on the left, a small red square", ...);
* ``words``: a list of words or sentences (text only);
* ``image_folder``: the images of a folder, with a stimulus table or subfolders as categories,
  squared to ``image_size`` (:mod:`brainalign.image_folder`).

:func:`stimulus_inputs` says which inputs (``image``, ``text``) a set provides and
:func:`stimulus_ids` which ids it holds, both without building it; :func:`stimulus_coords`
gives a set's metadata coordinates for another store's stimuli.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from PIL import Image, ImageDraw

from . import image_folder as folder_sets
from . import store

SHAPES = ("square", "circle", "triangle", "cross")
COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (50, 80, 220),
           "yellow": (230, 210, 40)}
POSITIONS = {"left": (0.3, 0.5), "right": (0.7, 0.5), "top": (0.5, 0.3), "bottom": (0.5, 0.7)}
SIZES = {"small": 0.16, "large": 0.3}  # half-width of the shape, as a fraction of the image side
_POSITION_PHRASE = {"left": "on the left", "right": "on the right", "top": "at the top",
                    "bottom": "at the bottom"}
# Caption wordings; each image gets one at random (seeded), so captions vary in word order and
# length as well as in content, as real captions do.
CAPTION_TEMPLATES = (
    "a {size} {colour} {shape} {where}",
    "{where}, a {size} {colour} {shape}",
    "there is a {size} {colour} {shape} {where}",
    "a {colour} {shape}, {size}, {where}",
    "the picture shows a {size} {colour} {shape} {where}",
)


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float,
                fill: tuple[int, int, int]) -> None:
    if shape == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
    elif shape == "cross":
        w = r / 3
        draw.rectangle([cx - r, cy - w, cx + r, cy + w], fill=fill)
        draw.rectangle([cx - w, cy - r, cx + w, cy + r], fill=fill)
    else:
        raise ValueError(f"unknown shape {shape!r}; choose from {SHAPES}")


def shape_ids(shapes=SHAPES, colours=("red", "green", "blue"), positions=tuple(POSITIONS),
              sizes=tuple(SIZES)) -> list[str]:
    """Ids of a ``shapes`` set, ``shape-colour-position-size``, in its order (every combination)."""
    return ["-".join(combo) for combo in itertools.product(shapes, colours, positions, sizes)]


def render_shapes(*, seed: int, image_size: int = 32, shapes=SHAPES, colours=("red", "green", "blue"),
                  positions=tuple(POSITIONS), sizes=tuple(SIZES), jitter: float = 0.04,
                  background_noise: float = 8.0, supersample: int = 4,
                  caption_templates=CAPTION_TEMPLATES) -> xr.Dataset:
    """Render every combination of shape x colour x position x size.

    Each image is drawn at ``supersample`` times the resolution and downsampled (antialiasing).
    The shape's centre is jittered uniformly by ``jitter`` (fraction of the image side) and the grey
    background (value 128) gets Gaussian noise of s.d. ``background_noise`` (uint8 units); each
    caption's wording is drawn from ``caption_templates`` (``str.format`` fields ``size``,
    ``colour``, ``shape``, ``where``); all drawn from ``seed``.

    Returns a dataset with ``image`` (stimulus, y, x, channel) uint8, ``text`` (the caption), and
    coordinates ``stimulus_id``, ``shape``, ``colour``, ``position`` and ``size``.
    """
    for name, values, allowed in (("shapes", shapes, SHAPES), ("colours", colours, COLOURS),
                                  ("positions", positions, POSITIONS), ("sizes", sizes, SIZES)):
        unknown = [v for v in values if v not in allowed]
        if unknown or not values:
            raise ValueError(f"stimuli {name}: {unknown or 'empty list'} not in {sorted(allowed)}")
    if image_size < 8:
        raise ValueError(f"stimuli image_size must be at least 8 pixels, got {image_size}")
    rng = np.random.default_rng(seed)
    combos = list(itertools.product(shapes, colours, positions, sizes))
    ids = shape_ids(shapes, colours, positions, sizes)
    big = image_size * supersample
    images = np.empty((len(combos), image_size, image_size, 3), dtype=np.uint8)
    captions = []
    for n, (shape, colour, position, size) in enumerate(combos):
        canvas = Image.new("RGB", (big, big), (128, 128, 128))
        fx, fy = POSITIONS[position]
        dx, dy = rng.uniform(-jitter, jitter, size=2)
        _draw_shape(ImageDraw.Draw(canvas), shape, (fx + dx) * big, (fy + dy) * big,
                    SIZES[size] * big, COLOURS[colour])
        small = np.asarray(canvas.resize((image_size, image_size), Image.Resampling.BOX), float)
        noise = rng.normal(0.0, background_noise, size=small.shape)
        images[n] = np.clip(np.rint(small + noise), 0, 255).astype(np.uint8)
        template = caption_templates[rng.integers(len(caption_templates))]
        captions.append(template.format(size=size, colour=colour, shape=shape,
                                        where=_POSITION_PHRASE[position]))
    columns = list(zip(*combos))
    return xr.Dataset(
        {"image": (("stimulus", "y", "x", "channel"), images), "text": ("stimulus", captions)},
        coords={"stimulus_id": ("stimulus", ids), "shape": ("stimulus", list(columns[0])),
                "colour": ("stimulus", list(columns[1])), "position": ("stimulus", list(columns[2])),
                "size": ("stimulus", list(columns[3])), "channel": ["R", "G", "B"]},
    )


def _word_pairs(items) -> list[tuple]:
    return list(items.items()) if isinstance(items, dict) else [(w, w) for w in items]


def words(items) -> xr.Dataset:
    """A text-only stimulus set. ``items`` is a list of strings (the id is the text itself) or a
    mapping ``stimulus_id -> text``."""
    pairs = _word_pairs(items)
    if not pairs:
        raise ValueError("stimuli words: the list of items is empty")
    ids = [str(i) for i, _ in pairs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"stimuli words: duplicated ids {sorted({i for i in ids if ids.count(i) > 1})}")
    return xr.Dataset({"text": ("stimulus", [str(t) for _, t in pairs])},
                      coords={"stimulus_id": ("stimulus", ids)})


def _column_values(values: pd.Series) -> np.ndarray:
    """A table column as numbers when every value is one, else as strings."""
    numbers = pd.to_numeric(values, errors="coerce")
    return numbers.to_numpy() if values.ne("").all() and numbers.notna().all() else values.to_numpy(str)


def image_folder(path, *, image_size: int = 224, table=None, resize: str = folder_sets.DEFAULT_RESIZE,
                 background=folder_sets.DEFAULT_BACKGROUND, caption_column=None) -> xr.Dataset:
    """The images of ``path`` (with the stimulus ``table``, or subfolders as categories; see
    :mod:`brainalign.image_folder`), each read as RGB and squared to ``image_size`` by ``resize``.

    Returns ``image`` (stimulus, y, x, channel) uint8, ``text`` when the table has the caption
    column, and coordinates ``stimulus_id``, ``file`` and every other table column (or ``category``).
    """
    spec = {"path": str(path), **({"table": str(table)} if table is not None else {}),
            **({"caption_column": caption_column} if caption_column is not None else {})}
    frame = folder_sets.list_stimuli(spec)
    captions = folder_sets.caption_column(spec, frame)
    images = folder_sets.load_images([Path(path) / f for f in frame["file"]], size=image_size,
                                     resize=resize, background=background)
    data = {"image": (("stimulus", "y", "x", "channel"), images)}
    if captions is not None:
        data["text"] = ("stimulus", frame.pop(captions).to_numpy(str))
    coords = {name: ("stimulus", _column_values(frame[name]) if name not in ("stimulus_id", "file")
                     else frame[name].to_numpy(str)) for name in frame.columns}
    return xr.Dataset(data, coords={**coords, "channel": ["R", "G", "B"]})


def stimulus_inputs(spec: dict) -> set[str]:
    """The model inputs (``image``, ``text``) that the set of a ``stimuli.<name>`` entry provides.
    An image folder has texts when its table has the caption column (reads the table only)."""
    kind = spec["kind"]
    if kind == "shapes":
        return {"image", "text"}
    if kind == "words":
        return {"text"}
    if kind == "image_folder":
        return {"image"} | ({"text"} if folder_sets.caption_column(spec, folder_sets.list_stimuli(spec)) else set())
    raise ValueError(f"stimuli kind {kind!r} is not one of 'shapes', 'words', 'image_folder'")


def stimulus_ids(spec: dict) -> list[str]:
    """The ids of the set a ``stimuli.<name>`` entry describes, in order, without building it
    (no image is drawn or read)."""
    kind = spec["kind"]
    if kind == "shapes":
        return shape_ids(**{k: spec[k] for k in ("shapes", "colours", "positions", "sizes") if k in spec})
    if kind == "words":
        return [str(i) for i, _ in _word_pairs(spec["items"])]
    if kind == "image_folder":
        return list(folder_sets.list_stimuli(spec)["stimulus_id"])
    raise ValueError(f"stimuli kind {kind!r} is not one of 'shapes', 'words', 'image_folder'")


def read_stimulus_ids(path) -> np.ndarray:
    """Stimulus ids from a stimuli store, or from a JSON list of ids (``.json``: what
    :meth:`brainalign.input_manifest.InputManifests.stimulus_ids` writes)."""
    if str(path).endswith(".json"):
        return np.array(json.loads(Path(path).read_text()), dtype=str)
    return store.open_dataset(path).stimulus_id.values


def stimulus_coords(ds: xr.Dataset, ids=None) -> dict:
    """``{name: ("stimulus", values)}``: the metadata coordinates of a set (every coordinate on
    ``stimulus`` but ``stimulus_id``), in the order of ``ids`` (default: the set's own)."""
    names = [n for n, c in ds.coords.items() if c.dims == ("stimulus",) and n != "stimulus_id"]
    meta = xr.Dataset(coords={n: ds.coords[n] for n in ["stimulus_id", *names]})
    if ids is not None and names:
        meta = meta.set_xindex("stimulus_id").sel(stimulus_id=np.asarray(ids))
    return {n: ("stimulus", meta[n].values) for n in names}


def build_stimulus_set(spec: dict, *, seed: int) -> xr.Dataset:
    """Build the stimulus set that a config entry ``stimuli.<name>`` describes (key ``kind``;
    ``models``, which models see the set, plays no part in it)."""
    spec = {k: v for k, v in spec.items() if k != "models"}
    kind = spec.pop("kind")
    if kind == "shapes":
        return render_shapes(seed=seed, **spec)
    if kind == "words":
        return words(spec["items"])
    if kind == "image_folder":
        return image_folder(spec.pop("path"), **spec)
    raise ValueError(f"stimuli kind {kind!r} is not one of 'shapes', 'words', 'image_folder'")
