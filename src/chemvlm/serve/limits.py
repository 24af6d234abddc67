"""Request body size limit, as ASGI middleware, so that the 413 is a JSON error like every other:
checked on Content-Length before reading, and again while reading a chunked body (no length)."""

from __future__ import annotations

from starlette.exceptions import HTTPException

from chemvlm.serve.errors import APIError


def too_large(limit: int) -> APIError:
    return APIError(413, f"request body: over the limit of {limit} bytes")


class BodyLimit:
    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return await too_large(self.limit).response()(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                # FastAPI passes an HTTPException raised while reading the body on to the handlers
                raise HTTPException(413, too_large(self.limit).message)
            return message

        await self.app(scope, counted, send)
