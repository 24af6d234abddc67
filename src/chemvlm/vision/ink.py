"""The ink view: how small models trained from scratch see an image.

A randomly initialised vision tower learns far faster when the background carries no signal and strokes
are a few pixels wide: the whole image is padded to a square (never stretched), resized to one tile, the
strokes thickened with a minimum filter, colour dropped (most documents are black on white), and the
pixel values inverted (`to_pixel_values(invert=True)`).
"""

from __future__ import annotations

from PIL import Image, ImageFilter


def _paste_offset(width: int, height: int) -> tuple[int, int]:
    side = max(width, height)
    return (side - width) // 2, (side - height) // 2


def square_placement(width: int, height: int, size: int) -> tuple[float, float, float]:
    """(scale, x offset, y offset) that map a point of a width x height image to its place in the tile that
    `ink_tile` makes of it (labels drawn on the image then land on the right patches)."""
    scale = size / max(width, height)
    dx, dy = _paste_offset(width, height)
    return scale, dx * scale, dy * scale


def ink_tile(image: Image.Image, size: int, thicken: int = 3) -> Image.Image:
    """One `size` x `size` grey (as RGB) tile of the whole image on white, strokes thickened."""
    image = image.convert("L")
    side = max(image.size)
    canvas = Image.new("L", (side, side), 255)
    canvas.paste(image, _paste_offset(image.width, image.height))
    tile = canvas.resize((size, size), Image.Resampling.BOX if side > size else Image.Resampling.BICUBIC)
    if thicken > 1:
        tile = tile.filter(ImageFilter.MinFilter(thicken | 1))  # PIL's filter sizes are odd
    return tile.convert("RGB")
