"""Turn the image URLs of a request into checked PIL images, so that engines never see client strings."""

from __future__ import annotations

import httpx
from PIL import Image

from chemvlm.serve.config import ServeConfig
from chemvlm.serve.errors import APIError
from chemvlm.serve.request import ImageRef
from chemvlm.vision import ImageLoadError, load_image


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


def load_images(images: list[ImageRef], config: ServeConfig) -> list[Image.Image]:
    """Decoded, flattened RGB images within the pixel limit; a bad one is a 400 naming its field."""
    loaded = []
    for image in images:
        source = image.url if image.url.startswith("data:") else _fetch(image.url, image.field, config)
        try:
            loaded.append(load_image(source, max_pixels=config.max_pixels))
        except ImageLoadError as err:
            raise APIError(400, f"{image.field}: {err}", image.field) from None
    return loaded
