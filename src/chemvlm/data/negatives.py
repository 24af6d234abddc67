"""Pictures without a chemical structure, for checking that engines say "none" instead of inventing one.

`non_structure_images(n, seed)` makes `n` pictures, the same ones for the same seed, cycling through the
kinds below: what a page holds besides structures (text, captions, tables, plots, arrows with reaction
conditions, logos), what a camera or a scanner gives (noise, textures, blank paper) and degenerate sizes.
Shapes avoid drawings a chemist would read as a structure (outlined hexagons, zig-zag lines).
"""

from __future__ import annotations

import math
import random
from typing import Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from chemvlm.data.degrade import degrade

_WORDS = ("the", "compound", "was", "stirred", "at", "room", "temperature", "for", "hours", "yield", "solution",
          "mixture", "filtered", "washed", "with", "water", "dried", "over", "sodium", "sulfate", "and", "purified",
          "by", "column", "chromatography", "to", "give", "a", "white", "solid", "of", "example", "table", "claim",
          "wherein", "is", "selected", "from", "group", "consisting", "alkyl", "aryl", "method", "treatment")
_CONDITIONS = ("Pd/C, H2", "EtOH, reflux", "rt, 12 h", "NaOH (aq)", "THF, -78 °C", "K2CO3, DMF", "HCl, dioxane",
               "80 °C, 3 h", "LiAlH4", "TFA, DCM")


def _font(rng: random.Random, low: int = 11, high: int = 22):
    return ImageFont.load_default(size=rng.randint(low, high))  # Pillow's bundled font: the same everywhere


def _canvas(rng: random.Random, low: int = 200, high: int = 640) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("L", (rng.randint(low, high), rng.randint(low, high)), 255)
    return image, ImageDraw.Draw(image)


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def blank(rng):
    image, _ = _canvas(rng)
    return image.point(lambda v: v - rng.randint(0, 12)) if rng.random() < 0.5 else image


def paragraph(rng):
    image, draw = _canvas(rng, 300, 700)
    font, y = _font(rng), rng.randint(5, 20)
    while y < image.height - 20:
        draw.text((rng.randint(5, 20), y), _sentence(rng, rng.randint(5, 11)), fill=0, font=font)
        y += int(font.size * rng.uniform(1.3, 1.8))
    return image


def caption(rng):
    image = Image.new("L", (rng.randint(250, 700), rng.randint(30, 80)), 255)
    label = rng.choice(("Compound", "Example", "Scheme", "Table", "Figure")) + f" {rng.randint(1, 120)}"
    ImageDraw.Draw(image).text((8, 8), f"{label}. {_sentence(rng, rng.randint(3, 7))}", fill=0, font=_font(rng))
    return image


def table(rng):
    image, draw = _canvas(rng, 300, 640)
    rows, cols = rng.randint(3, 8), rng.randint(2, 5)
    h, w = (image.height - 20) / rows, (image.width - 20) / cols
    font = _font(rng, 10, 16)
    for r in range(rows + 1):
        draw.line([(10, 10 + r * h), (10 + cols * w, 10 + r * h)], fill=0, width=1)
    for c in range(cols + 1):
        draw.line([(10 + c * w, 10), (10 + c * w, 10 + rows * h)], fill=0, width=1)
    for r in range(rows):
        for c in range(cols):
            cell = rng.choice(_WORDS) if c == 0 else f"{rng.uniform(0, 100):.1f}"
            draw.text((14 + c * w, 14 + r * h), cell, fill=0, font=font)
    return image


def plot(rng):
    image, draw = _canvas(rng, 300, 640)
    x0, y0, x1, y1 = 40, 20, image.width - 20, image.height - 40
    draw.line([(x0, y0), (x0, y1), (x1, y1)], fill=0, width=2)
    for k in range(1, 6):  # ticks and their numbers
        x = x0 + k * (x1 - x0) / 6
        draw.line([(x, y1), (x, y1 + 5)], fill=0)
        draw.text((x - 6, y1 + 8), str(k * 10), fill=0, font=_font(rng, 9, 12))
    kind = rng.choice(("curve", "bars", "scatter"))
    if kind == "curve":  # smooth: a zig-zag polyline would be a drawn carbon chain
        phase, period = rng.uniform(0, 6), rng.uniform(0.5, 2.0)
        points = [(x, y0 + (y1 - y0) * (0.5 + 0.4 * math.sin(phase + period * 6 * (x - x0) / (x1 - x0))))
                  for x in range(x0, x1, 2)]
        draw.line(points, fill=0, width=2)
    elif kind == "bars":
        n = rng.randint(3, 8)
        width = (x1 - x0) / (n * 1.5)
        for i in range(n):
            left = x0 + 10 + i * width * 1.5
            draw.rectangle([left, y1 - rng.uniform(0.1, 0.9) * (y1 - y0), left + width, y1], fill=rng.randint(0, 160))
    else:
        for _ in range(rng.randint(15, 60)):
            x, y = rng.uniform(x0 + 5, x1), rng.uniform(y0, y1 - 5)
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=0)
    return image


def arrow(rng):
    """A reaction arrow alone or with its conditions: a scheme without molecules."""
    image = Image.new("L", (rng.randint(250, 600), rng.randint(90, 200)), 255)
    draw = ImageDraw.Draw(image)
    y, left, right = image.height // 2, rng.randint(10, 40), image.width - rng.randint(10, 40)
    draw.line([(left, y), (right, y)], fill=0, width=rng.randint(1, 3))
    draw.polygon([(right, y), (right - 14, y - 6), (right - 14, y + 6)], fill=0)
    if rng.random() < 0.7:
        font = _font(rng, 11, 18)
        draw.text((left + 20, y - font.size - 8), rng.choice(_CONDITIONS), fill=0, font=font)
        if rng.random() < 0.5:
            draw.text((left + 20, y + 8), rng.choice(_CONDITIONS), fill=0, font=font)
    return image


def logo(rng):
    """Filled shapes and circles with a word: no outlined polygon a chemist would read as a ring."""
    image, draw = _canvas(rng, 150, 400)
    for _ in range(rng.randint(1, 4)):
        x, y, r = rng.uniform(0, image.width), rng.uniform(0, image.height), rng.uniform(15, 80)
        if rng.random() < 0.5:
            draw.ellipse([x - r, y - r, x + r, y + r], outline=0, width=rng.randint(2, 6))
        else:
            corners = rng.randint(3, 8)
            turn = rng.uniform(0, math.pi)
            draw.polygon([(x + r * math.cos(turn + 2 * math.pi * k / corners), y + r * math.sin(turn + 2 * math.pi * k / corners))
                          for k in range(corners)], fill=rng.randint(0, 120))
    draw.text((10, image.height - 30), rng.choice(("ACME", "Pharma", "Lab", "Inc.")), fill=0, font=_font(rng, 16, 28))
    return image


def noise(rng):
    generator = np.random.default_rng(rng.randrange(2**32))
    h, w = rng.randint(100, 500), rng.randint(100, 500)
    if rng.random() < 0.5:
        pixels = generator.normal(rng.uniform(100, 220), rng.uniform(10, 60), (h, w))
    else:  # salt and pepper on white paper
        pixels = np.where(generator.random((h, w)) < rng.uniform(0.002, 0.05), 0, 255)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def texture(rng):
    """Photograph-like: smooth blotches of light and shade with grain, in colour."""
    generator = np.random.default_rng(rng.randrange(2**32))
    h, w = rng.randint(120, 480), rng.randint(120, 480)
    coarse = generator.random((max(2, h // 32), max(2, w // 32), 3)) * 255
    image = Image.fromarray(coarse.astype(np.uint8), "RGB").resize((w, h), Image.BICUBIC)
    grain = generator.normal(0, rng.uniform(3, 15), (h, w, 3))
    pixels = np.clip(np.asarray(image, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB").filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.5)))


def degenerate(rng):
    """1-pixel pictures, lines of pixels and extreme aspects."""
    w, h = rng.choice(((1, 1), (2, 2), (12000, 8), (8, 3000), (3, 500), (900, 4), (5, 5)))
    image = Image.new("L", (w, h), 255)
    if rng.random() < 0.5 and min(w, h) > 2:
        ImageDraw.Draw(image).line([(0, h // 2), (w, h // 2)] if w > h else [(w // 2, 0), (w // 2, h)], fill=0)
    return image


KINDS = {f.__name__: f for f in (blank, paragraph, caption, table, plot, arrow, logo, noise, texture, degenerate)}


def non_structure_images(n: int, seed: int = 0) -> Iterator[tuple[str, Image.Image]]:
    """(kind, picture) for `n` pictures without a structure; a third of those that are page content get
    the data engine's scan degradations, as real pages do."""
    rng = random.Random(seed)
    kinds = list(KINDS)
    for i in range(n):
        kind = kinds[i % len(kinds)]
        image = KINDS[kind](rng)
        if kind not in ("degenerate", "noise", "texture") and rng.random() < 0.33:
            image, _ = degrade(image.convert("L"), rng, 0.7)
        yield kind, image
