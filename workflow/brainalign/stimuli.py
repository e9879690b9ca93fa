"""Stimulus sets rendered into exactly the arrays a model sees.

A stimulus set is an ``xarray.Dataset`` with dimension ``stimulus`` and coordinate
``stimulus_id`` (str), holding ``image`` (stimulus, y, x, channel; uint8 RGB) and/or ``text``
(stimulus; str). Per-stimulus attributes (shape, colour, category, ...) are further
coordinates on ``stimulus``. Three kinds are built:

* ``shapes``: a procedural set, every combination of shape x colour x position x size,
  drawn on a noisy grey background with a seeded jitter, with a caption per image in one of
  several wordings ("a small red square on the left", "on the left, a small red square", ...);
* ``words``: a list of words or sentences (text only);
* ``image_folder``: every image file in a folder, resized to a square of ``image_size``.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import xarray as xr
from PIL import Image, ImageDraw

from .errors import reading

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
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


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
    big = image_size * supersample
    images = np.empty((len(combos), image_size, image_size, 3), dtype=np.uint8)
    captions, ids = [], []
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
        ids.append(f"{shape}-{colour}-{position}-{size}")
    columns = list(zip(*combos))
    return xr.Dataset(
        {"image": (("stimulus", "y", "x", "channel"), images), "text": ("stimulus", captions)},
        coords={"stimulus_id": ("stimulus", ids), "shape": ("stimulus", list(columns[0])),
                "colour": ("stimulus", list(columns[1])), "position": ("stimulus", list(columns[2])),
                "size": ("stimulus", list(columns[3])), "channel": ["R", "G", "B"]},
    )


def words(items) -> xr.Dataset:
    """A text-only stimulus set. ``items`` is a list of strings (the id is the text itself) or a
    mapping ``stimulus_id -> text``."""
    pairs = list(items.items()) if isinstance(items, dict) else [(w, w) for w in items]
    if not pairs:
        raise ValueError("stimuli words: the list of items is empty")
    ids = [str(i) for i, _ in pairs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"stimuli words: duplicated ids {sorted({i for i in ids if ids.count(i) > 1})}")
    return xr.Dataset({"text": ("stimulus", [str(t) for _, t in pairs])},
                      coords={"stimulus_id": ("stimulus", ids)})


def _read_image(path: Path, image_size: int) -> np.ndarray:
    """One image file as (image_size, image_size, 3) uint8 RGB (bicubic resize)."""
    with reading(path, "an image", "replace the file or move it out of the folder", label="stimuli image_folder"):
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB").resize((image_size, image_size), Image.Resampling.BICUBIC))


def image_folder(path, *, image_size: int) -> xr.Dataset:
    """Every image file directly in ``path`` (sorted by name), converted to RGB and resized to
    ``image_size`` x ``image_size`` (bicubic). The stimulus id is the file name without suffix."""
    files = sorted(p for p in Path(path).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"stimuli image_folder: no image files in {path}")
    images = np.stack([_read_image(f, image_size) for f in files])
    return xr.Dataset({"image": (("stimulus", "y", "x", "channel"), images)},
                      coords={"stimulus_id": ("stimulus", [f.stem for f in files]),
                              "file": ("stimulus", [f.name for f in files]),
                              "channel": ["R", "G", "B"]})


def build_stimulus_set(spec: dict, *, seed: int) -> xr.Dataset:
    """Build the stimulus set that a config entry ``stimuli.<name>`` describes (key ``kind``)."""
    spec = dict(spec)
    kind = spec.pop("kind")
    if kind == "shapes":
        return render_shapes(seed=seed, **spec)
    if kind == "words":
        return words(spec["items"])
    if kind == "image_folder":
        return image_folder(spec["path"], image_size=spec.get("image_size", 224))
    raise ValueError(f"stimuli kind {kind!r} is not one of 'shapes', 'words', 'image_folder'")
