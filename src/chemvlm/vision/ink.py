"""The ink view: how small models trained from scratch see an image.

A randomly initialised vision tower learns far faster when the background carries no signal and strokes
are a few pixels wide: the whole image is padded to a square (never stretched), resized to one tile, the
strokes thickened with a minimum filter, colour dropped (most documents are black on white), and the
pixel values inverted (`to_pixel_values(invert=True)`).
"""

from __future__ import annotations

from PIL import Image, ImageFilter


def square_placement(width: int, height: int, size: int) -> tuple[float, float, float]:
    """(scale, x offset, y offset) that map a width x height image into a size x size square, centred."""
    side = max(width, height)
    return size / side, (side - width) / 2 * size / side, (side - height) / 2 * size / side


def ink_tile(image: Image.Image, size: int, thicken: int = 3) -> Image.Image:
    """One `size` x `size` grey (as RGB) tile of the whole image on white, strokes thickened."""
    image = image.convert("L")
    side = max(image.size)
    canvas = Image.new("L", (side, side), 255)
    canvas.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    tile = canvas.resize((size, size), Image.Resampling.BOX if side > size else Image.Resampling.BICUBIC)
    return (tile.filter(ImageFilter.MinFilter(thicken)) if thicken > 1 else tile).convert("RGB")
