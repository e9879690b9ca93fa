"""Image batches: checking uint8 RGB arrays and the resize-and-normalise transform.

A stimulus image batch is a uint8 array ``(n, y, x, 3)``. :class:`ImageTransform` maps it to a
float32 tensor ``(n, 3, size, size)``::

    t[b, c] = (resize(image[b, :, :, c] / 255) - mean[c]) / std[c]

where ``resize`` is bilinear interpolation with antialiasing (only applied when the image is
not already ``size x size``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .adapter import ModelInputs

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def check_images(images) -> np.ndarray:
    """Return ``images`` as a uint8 ``(n, y, x, 3)`` array, or raise naming what is wrong."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 RGB, got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (n, y, x, 3), got {images.shape}")
    return images


class ImageTransform:
    """uint8 ``(n, y, x, 3)`` -> normalised float32 ``(n, 3, size, size)`` model inputs.

    Parameters
    ----------
    size : int
        Side of the square input the model takes, in pixels.
    mean, std : sequence of 3 floats
        Per-channel statistics on the ``[0, 1]`` scale.
    """

    def __init__(self, size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        if int(size) < 1:
            raise ValueError(f"image_size must be a positive integer, got {size!r}")
        self.size = int(size)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    def __call__(self, images) -> ModelInputs:
        x = torch.from_numpy(check_images(images)).permute(0, 3, 1, 2).float().div_(255.0)
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear",
                              align_corners=False, antialias=True)
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return ModelInputs(args=((x - mean) / std,))

    def describe(self) -> dict:
        return {"transform": "uint8/255, bilinear antialiased resize, (x - mean) / std",
                "image_size": self.size, "mean": list(self.mean), "std": list(self.std)}


def to_pil(images) -> list:
    """A uint8 ``(n, y, x, 3)`` batch as a list of PIL images (for library transforms)."""
    from PIL import Image

    return [Image.fromarray(np.ascontiguousarray(img)) for img in check_images(images)]
