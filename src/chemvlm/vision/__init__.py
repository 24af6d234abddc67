"""Image loading and InternVL's dynamic 448-px tiling."""

from chemvlm.vision.ink import ink_tile, square_placement
from chemvlm.vision.loading import DEFAULT_MAX_PIXELS, ImageLoadError, load_image
from chemvlm.vision.tiling import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    best_grid,
    dynamic_tiles,
    to_pixel_values,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImageLoadError",
    "best_grid",
    "dynamic_tiles",
    "ink_tile",
    "load_image",
    "square_placement",
    "to_pixel_values",
]
