"""Load any image a user may hand us into an 8-bit RGB PIL image, or fail with one clear line.

Accepted: a path, raw bytes, a PIL image, or a base64 data URL. Orientation follows EXIF;
transparency is flattened on white (structure drawings are black on white); palette, 1-bit,
16-bit, CMYK and grayscale images are converted.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from chemvlm.errors import InputError

# 40 megapixels: a scanned A4 page at 600 dpi is 35 MP; larger is a mistake or a decompression bomb.
DEFAULT_MAX_PIXELS = 40_000_000


class ImageLoadError(InputError, ValueError):
    """An input that is not a usable image; the message names the input."""


def _name(source) -> str:
    if isinstance(source, (str, Path)):
        text = str(source)
        return text[:40] + "…" if text.startswith("data:") else text
    if isinstance(source, (bytes, bytearray)):
        return f"<{len(source)} bytes>"
    return f"<{type(source).__name__}>"


def _open(source) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, (bytes, bytearray)):
        return Image.open(io.BytesIO(source))
    if isinstance(source, str) and source.startswith("data:"):
        return Image.open(io.BytesIO(data_url_bytes(source)))
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ImageLoadError(f"{path}: no such file")
        return Image.open(path)
    raise ImageLoadError(f"{_name(source)}: not an image path, bytes, data URL or PIL image")


def data_url_bytes(url: str) -> bytes:
    """The bytes of a base64 data URL, or ImageLoadError naming it."""
    header, _, payload = url.partition(",")
    if ";base64" not in header:
        raise ImageLoadError(f"{_name(url)}: only base64 data URLs are supported")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ImageLoadError(f"{_name(url)}: bad base64 data ({err})") from None


def _to_8bit(image: Image.Image) -> Image.Image:
    """Integer and float images (16-bit PNG/TIFF) scaled to 8-bit grayscale."""
    array = np.asarray(image).astype(np.float64)
    top = 65535.0 if image.mode.startswith("I") else max(float(array.max()), 1.0)
    return Image.fromarray(np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")


def _flatten(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I") or image.mode == "F":
        image = _to_8bit(image)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("LA", "La", "PA", "RGBa") or (image.mode == "L" and "transparency" in image.info):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    return image.convert("RGB")


def load_image(source, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """An RGB image, or ImageLoadError naming the input (non-image, truncated, too large)."""
    name = _name(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = _open(source)
            width, height = image.size  # known from the header, before any pixel is decoded
            if width * height > max_pixels:
                raise ImageLoadError(f"{name}: {width}x{height} pixels is over the limit of {max_pixels}")
            image.load()
            image = ImageOps.exif_transpose(image)
            return _flatten(image)
    except ImageLoadError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageLoadError(f"{name}: not a readable image ({err.__class__.__name__})") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageLoadError(f"{name}: damaged or truncated image ({err})") from None


def reads_as_loaded(path: str | Path) -> bool:
    """Whether a program reading the file itself sees the picture `load_image` gives, up to colour mode:
    one frame, no EXIF rotation, no transparency. Otherwise it must be given the loaded picture."""
    try:
        with Image.open(path) as image:
            frames = getattr(image, "n_frames", 1)
            orientation = image.getexif().get(0x0112, 1)  # EXIF Orientation; 1 is upright
            transparent = "A" in image.getbands() or "transparency" in image.info
            return frames == 1 and orientation == 1 and not transparent and not image.mode.startswith(("I", "F"))
    except (OSError, SyntaxError, ValueError):
        return False
