"""The images of a request, in two steps so that memory follows the queue, not the arrivals:

- `read_images`, before admission: the encoded bytes (base64 decoded, or fetched), with the format and
  size read from the header only (PIL opens lazily), so a bad or oversized image is a 400 at once;
- `decode`, in the engine's batch, only for admitted requests whose client still waits: checked, flattened
  RGB pixels. A queued request holds its encoded bytes; the pixels exist only for the batch being computed.

Engines never see a string from a client.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import httpx
from PIL import Image

from chemvlm.serve.config import ServeConfig
from chemvlm.serve.errors import APIError
from chemvlm.serve.request import ImageRef
from chemvlm.vision import ImageLoadError, load_image
from chemvlm.vision.loading import data_url_bytes


@dataclass(eq=False)
class Encoded:
    """An image as the client sent it, checked on its header only."""

    field: str  # where it was in the request, for error messages
    data: bytes
    size: tuple[int, int]


def _fetch(url: str, field: str, config: ServeConfig) -> bytes:
    """A remote image, read in pieces so that a huge or endless answer stops at the body limit."""
    data = bytearray()
    try:
        with httpx.stream("GET", url, timeout=config.remote_timeout, follow_redirects=False) as response:
            if response.status_code != 200:
                raise APIError(400, f"{field}: fetching {url} gave HTTP {response.status_code}", field)
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > config.max_body_bytes:
                    raise APIError(400, f"{field}: {url} is over {config.max_body_bytes} bytes", field)
    except httpx.HTTPError as err:
        raise APIError(400, f"{field}: could not fetch {url} ({type(err).__name__})", field) from None
    return bytes(data)


def _bytes(image: ImageRef, config: ServeConfig) -> bytes:
    if not image.url.startswith("data:"):
        return _fetch(image.url, image.field, config)
    try:
        return data_url_bytes(image.url)
    except ImageLoadError as err:
        raise APIError(400, f"{image.field}: {err}", image.field) from None


def read_images(images: list[ImageRef], config: ServeConfig) -> list[Encoded]:
    """Encoded images whose header names a known format and a size within the pixel limit; else a 400."""
    read = []
    for image in images:
        data = _bytes(image, config)
        name = image.url[:40] + "…" if image.url.startswith("data:") else image.url
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(data)) as opened:  # the header only: no pixel is decoded
                    size = opened.size
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            message = f"{image.field}: {name}: not a readable image ({type(err).__name__})"
            raise APIError(400, message, image.field) from None
        if size[0] * size[1] > config.max_pixels:
            raise APIError(400, f"{image.field}: {name}: {size[0]}x{size[1]} pixels is over the limit of "
                                f"{config.max_pixels}", image.field)
        read.append(Encoded(image.field, data, size))
    return read


def decode(image: Encoded, max_pixels: int) -> Image.Image:
    """The checked RGB pixels of an admitted image; a damaged one is a 400 naming its field."""
    try:
        return load_image(image.data, max_pixels=max_pixels)
    except ImageLoadError as err:
        raise APIError(400, f"{image.field}: {err}", image.field) from None
