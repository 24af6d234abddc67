"""InternVL's dynamic tiling, exactly as `dynamic_preprocess` in InternVL-Chat (and GotOcr2's processor).

An image becomes a grid of `cols x rows` square tiles (1 <= cols*rows <= max_num) whose aspect ratio
is closest to the image's, plus a thumbnail of the whole image when there is more than one tile.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _candidate_grids(min_num: int, max_num: int) -> list[tuple[int, int]]:
    # Same construction as InternVL (a set, then a stable sort by tile count), so ties resolve identically.
    grids = {
        (i, j)
        for n in range(min_num, max_num + 1)
        for i in range(1, n + 1)
        for j in range(1, n + 1)
        if min_num <= i * j <= max_num
    }
    return sorted(grids, key=lambda grid: grid[0] * grid[1])


def best_grid(width: int, height: int, image_size: int = 448, min_num: int = 1, max_num: int = 6) -> tuple[int, int]:
    """(cols, rows) for an image of `width x height` pixels.

    Closest aspect ratio wins; on a tie the grid with more tiles wins while the image's area is
    more than half of that grid's area (InternVL's rule: do not upscale a small image into many tiles).
    """
    aspect = width / height
    area = width * height
    best, best_diff = (1, 1), float("inf")
    for cols, rows in _candidate_grids(min_num, max_num):
        diff = abs(aspect - cols / rows)
        if diff < best_diff:
            best, best_diff = (cols, rows), diff
        elif diff == best_diff and area > 0.5 * image_size * image_size * cols * rows:
            best = (cols, rows)
    return best


def dynamic_tiles(
    image: Image.Image, image_size: int = 448, min_num: int = 1, max_num: int = 6, use_thumbnail: bool = True
) -> list[Image.Image]:
    """Row-major tiles of the resized image, then the thumbnail when there is more than one tile."""
    cols, rows = best_grid(image.width, image.height, image_size, min_num, max_num)
    resized = image.resize((cols * image_size, rows * image_size), Image.Resampling.BICUBIC)
    tiles = [
        resized.crop((c * image_size, r * image_size, (c + 1) * image_size, (r + 1) * image_size))
        for r in range(rows)
        for c in range(cols)
    ]
    if use_thumbnail and len(tiles) > 1:
        tiles.append(image.resize((image_size, image_size), Image.Resampling.BICUBIC))
    return tiles


def to_pixel_values(tiles: list[Image.Image], transpose: bool = False, invert: bool = False):
    """(n_tiles, 3, S, S) float32 tensor, scaled to [0, 1] then normalised with ImageNet mean and std.
    `transpose` swaps each tile's height and width, for checkpoints converted from pixel-shuffle v1
    (see chemvlm.convert.internvl_chat). `invert` gives the ink view instead: white 0, black 2."""
    import torch  # here, so that loading and tiling images does not pay for importing torch

    array = np.stack([np.asarray(tile.convert("RGB"), dtype=np.float32) for tile in tiles]) / 255.0
    if invert:
        array = (1.0 - array) * 2.0
    else:
        array = (array - np.array(IMAGENET_MEAN, dtype=np.float32)) / np.array(IMAGENET_STD, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(0, 3, 2, 1) if transpose else array.transpose(0, 3, 1, 2)))
