"""What a server accepts and how it batches: one dataclass, filled from `chemvlm serve` options."""

from __future__ import annotations

from dataclasses import dataclass

API_KEY_VARIABLE = "CHEMVLM_SERVE_API_KEY"


@dataclass
class ServeConfig:
    model_name: str = "chemvlm"  # the id clients see in /v1/models and must send as `model`
    api_key: str | None = None  # when set, every route but /health and the static page needs it
    batch_size: int | None = None  # requests per engine call; None: the engine's own batch size
    batch_wait: float = 0.02  # seconds a batch waits to fill after its first request (from idle)
    queue_size: int = 64  # requests waiting beyond the running batch; more get 429 + Retry-After
    queue_timeout: float | None = 30.0  # seconds a request may wait for the engine: 429 for longer (expected) waits
    max_body_bytes: int = 20 * 1024 * 1024  # a 20 MB body holds several large scans as base64
    max_pixels: int = 16_000_000  # per image; a 600-dpi A4 page is 35 MP, a figure is far less
    batch_pixels: int | None = None  # decoded pixels per engine call (its first request always goes); None:
    # those of one largest request (max_pixels x max_images), so huge images go one request at a time
    max_images: int = 4  # image parts per request, over all messages
    max_tokens: int = 1024  # the largest `max_tokens` a request may ask for
    default_tokens: int = 256  # answer length when the request names none
    max_prompt_chars: int = 8000  # all message text together
    allow_remote_images: bool = False  # fetching http(s) image URLs makes the server a web client
    remote_timeout: float = 10.0  # seconds for one remote image
    max_pages: int = 100  # pages of a document read per request (POST /v1/documents; `pages` may ask fewer)
    max_documents: int = 2  # documents read at once; more get 429 + Retry-After
