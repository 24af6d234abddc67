"""RanDepict-style degradations, vectorised with numpy and PIL: the look of scans, faxes, photos and old patents.

`degrade(image, rng, strength)` applies a random subset of the steps below. Costly random fields
(noise, salt-and-pepper) are cut from banks made once per process, so a step costs a slice, not a draw of
200k random numbers. Nothing here touches the structure's topology: stray text and arrows go only into
blank margins.
"""

from __future__ import annotations

import io
import random
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

_BANK = 1024  # bank side; images up to this size take a random window of it


@lru_cache(maxsize=1)
def _banks() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(12345)
    noise = rng.normal(0.0, 1.0, (_BANK, _BANK)).astype(np.float32)
    speckle = rng.random((_BANK, _BANK), dtype=np.float32)
    return noise, speckle


def _window(bank: np.ndarray, shape: tuple[int, int], rng: random.Random) -> np.ndarray:
    h, w = shape
    if h > _BANK or w > _BANK:
        return np.resize(bank, (h, w))
    y, x = rng.randrange(_BANK - h + 1), rng.randrange(_BANK - w + 1)
    return bank[y : y + h, x : x + w]


def blur(image, rng):
    return Image.fromarray(_gaussian(np.asarray(image), rng.uniform(0.4, 1.3)))


def _gaussian(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a uint8 image in 16-bit integer arithmetic: a separable kernel of 2-3 taps a side
    (weights sum to 256), edges repeated. ~3x faster than PIL's three box passes, and a true Gaussian."""
    reach = 3 if sigma > 1.0 else 2
    weights = np.exp(-np.arange(reach + 1) ** 2 / (2 * sigma * sigma))
    weights = np.rint(weights / (2 * weights.sum() - weights[0]) * 256).astype(np.int64)
    weights[0] = 256 - 2 * weights[1:].sum()
    out = a.astype(np.uint16)
    for axis in (0, 1):
        out = _smooth(out, axis, weights)
    return out.astype(np.uint8)


def _smooth(a: np.ndarray, axis: int, weights: np.ndarray) -> np.ndarray:
    reach, n = len(weights) - 1, a.shape[axis]
    width = [(0, 0)] * a.ndim
    width[axis] = (reach, reach)
    padded = np.pad(a, width, mode="edge")

    def shifted(d):
        index = [slice(None)] * a.ndim
        index[axis] = slice(reach + d, reach + d + n)
        return padded[tuple(index)]

    out = a * np.uint16(weights[0])
    for d in range(1, reach + 1):
        if weights[d]:
            pair = shifted(-d) + shifted(d)
            pair *= np.uint16(weights[d])
            out += pair
    out += 128
    out >>= 8
    return out


def noise(image, rng):
    out = np.asarray(image, dtype=np.float32)
    field = _window(_banks()[0], out.shape[:2], rng) * np.float32(rng.uniform(4, 22))
    planes = out.transpose(2, 0, 1) if out.ndim == 3 else out  # channel planes: long inner loops, not runs of 3
    planes += field
    return Image.fromarray(np.clip(out, 0, 255, out=out).astype(np.uint8))


def salt_pepper(image, rng):
    a = np.array(image)
    field = _window(_banks()[1], a.shape[:2], rng)
    amount = rng.uniform(0.001, 0.01)
    a[field < amount / 2] = 0
    a[field > 1 - amount / 2] = 255
    return Image.fromarray(a)


def jpeg(image, rng):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=rng.randint(15, 75))
    return Image.open(io.BytesIO(buffer.getvalue())).convert(image.mode)


def rescale(image, rng):
    """Down- then up-scaling: the soft, blocky look of low-resolution scans."""
    factor = rng.uniform(0.35, 0.75)
    small = image.resize((max(1, int(image.width * factor)), max(1, int(image.height * factor))), Image.BILINEAR)
    return small.resize(image.size, rng.choice([Image.NEAREST, Image.BILINEAR]))


def binarise(image, rng):
    """1-bit look of JPO/TIFF scans."""
    grey = image.convert("L")
    threshold = rng.randint(150, 225)
    return grey.point(lambda v: 255 if v > threshold else 0).convert(image.mode)


def perspective(image, rng):
    w, h = image.size
    d = 0.04
    jitter = [rng.uniform(-d, d) * s for s in (w, h) * 4]
    # coefficients map output to input: solve from 4 corner correspondences
    src = [(0 + jitter[0], 0 + jitter[1]), (w + jitter[2], 0 + jitter[3]), (w + jitter[4], h + jitter[5]), (0 + jitter[6], h + jitter[7])]
    dst = [(0, 0), (w, 0), (w, h), (0, h)]
    rows = []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    coeffs = np.linalg.solve(np.array(rows, dtype=np.float64), np.array([c for p in src for c in p], dtype=np.float64))
    return image.transform(image.size, Image.PERSPECTIVE, tuple(coeffs), Image.BILINEAR, fillcolor=(255,) * len(image.getbands()))


def paper(image, rng):
    """Lined or grid paper behind the drawing (the ink stays on top: darker of the two)."""
    a = np.array(image)
    h, w = a.shape[:2]
    step = rng.randint(18, 40)
    shade = rng.randint(170, 225)
    lines = np.full((h, w), 255, np.uint8)
    lines[rng.randrange(step) :: step, :] = shade
    if rng.random() < 0.5:
        lines[:, rng.randrange(step) :: step] = shade
    return Image.fromarray(np.minimum(a, lines[..., None] if a.ndim == 3 else lines))


def ink(image, rng):
    """Faded (lighter strokes) or thick (bolder strokes) ink."""
    if rng.random() < 0.5:  # a 256-entry table (float32, as an array pass would compute it), applied in C
        table = _lut(255 - (255 - np.arange(256, dtype=np.float32)) * rng.uniform(0.35, 0.7))
        return image.point(table * len(image.getbands()))
    return Image.fromarray(_min3(np.asarray(image)))


def _lut(values: np.ndarray) -> list[int]:
    return np.clip(values, 0, 255).astype(np.uint8).tolist()


def _min3(a: np.ndarray) -> np.ndarray:
    """3x3 minimum with edges repeated (= PIL's MinFilter(3), ~20x faster): two separable 1-D passes."""
    rows = a.copy()
    np.minimum(rows[1:], a[:-1], out=rows[1:])
    np.minimum(rows[:-1], a[1:], out=rows[:-1])
    out = rows.copy()
    np.minimum(out[:, 1:], rows[:, :-1], out=out[:, 1:])
    np.minimum(out[:, :-1], rows[:, 1:], out=out[:, :-1])
    return out


_WORDS = ["Example 12", "Compound 3a", "(I)", "HCl", "Scheme 2", "Formula (II)", "25", "化合物 7", "yield 85%", "Step b"]


def stray_marks(image, rng):
    """Text or an arrow in a blank corner, as around structures cut out of documents."""
    a = np.asarray(image.convert("L"))
    h, w = a.shape
    box_w, box_h = w // 4, h // 8
    corners = [(0, 0), (w - box_w, 0), (0, h - box_h), (w - box_w, h - box_h)]
    rng.shuffle(corners)
    for x, y in corners:
        if a[y : y + box_h, x : x + box_w].min() > 240:  # blank: drawing here cannot hide a bond
            marked = image.copy()
            draw = ImageDraw.Draw(marked)
            if rng.random() < 0.6:
                draw.text((x + 2, y + 2), rng.choice(_WORDS), fill=(0,) * len(image.getbands()))
            else:
                mid = y + box_h // 2
                draw.line([(x + 4, mid), (x + box_w - 6, mid)], fill=(0,) * len(image.getbands()), width=2)
                draw.polygon([(x + box_w - 4, mid), (x + box_w - 12, mid - 5), (x + box_w - 12, mid + 5)], fill=(0,) * len(image.getbands()))
            return marked
    return image


# name: (step, probability at strength 1). Order matters: geometry and paper first, then ink, then sensor.
STEPS = {
    "perspective": (perspective, 0.25),
    "stray_marks": (stray_marks, 0.2),
    "paper": (paper, 0.1),
    "ink": (ink, 0.2),
    "rescale": (rescale, 0.25),
    "blur": (blur, 0.3),
    "binarise": (binarise, 0.15),
    "noise": (noise, 0.25),
    "salt_pepper": (salt_pepper, 0.15),
    "jpeg": (jpeg, 0.3),
}


def degrade(image: Image.Image, rng: random.Random, strength: float = 1.0, steps: list[str] | None = None) -> tuple[Image.Image, list[str]]:
    """The image after a random subset of degradation steps, and the names of the steps applied.

    `strength` scales every probability (0: clean); `steps` forces exactly these steps, in the order given.
    """
    applied = []
    mode = image.mode
    if mode == "RGB" and steps is None and _is_grey(image):
        image = image.convert("L")  # black-and-white drawings: one channel makes every step ~3x cheaper
    for name, (step, probability) in STEPS.items():
        if (steps is not None and name in steps) or (steps is None and rng.random() < probability * strength):
            image = step(image, rng)
            applied.append(name)
    return image.convert(mode), applied


def _is_grey(image: Image.Image) -> bool:
    # a sparse look is enough (colour drawings have colour atoms): every 8th pixel of every 8th row, picked in C
    sparse = image.transform((-(-image.width // 8), -(-image.height // 8)), Image.AFFINE, (8, 0, -4, 0, 8, -4), Image.NEAREST)
    a = np.asarray(sparse).astype(np.int16)
    return bool(np.abs(a[..., 0] - a[..., 1]).max() < 8 and np.abs(a[..., 1] - a[..., 2]).max() < 8)
