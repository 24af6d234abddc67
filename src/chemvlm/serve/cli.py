"""`chemvlm serve`: the OpenAI-compatible API and the web page on one port."""

from __future__ import annotations

from pathlib import Path

import typer

from chemvlm.serve.config import API_KEY_VARIABLE, ServeConfig


def served_name(spec: str) -> str:
    """The model id clients see: a checkpoint's directory name, never the server's file-system path."""
    path = Path(spec)
    return path.name if spec not in ("osra",) and path.is_dir() else spec


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        model: str | None = typer.Option(None, "--model", "-m", help="Model spec (checkpoint dir, preset, osra, openai:URL#MODEL). Default: the bundled model, else osra."),
        host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 for every interface)."),
        port: int = typer.Option(8000, help="Port (0: any free port)."),
        api_key: str | None = typer.Option(None, "--api-key", envvar=API_KEY_VARIABLE, help=f"Require 'Authorization: Bearer KEY' on every route but /health (or set {API_KEY_VARIABLE})."),
        name: str | None = typer.Option(None, help="Model id to serve under (default: the spec, or the checkpoint's directory name)."),
        batch_size: int | None = typer.Option(None, min=1, help="Requests per engine call (default: the engine's)."),
        batch_wait_ms: float = typer.Option(20.0, min=0, help="How long a batch waits to fill, from idle."),
        queue_size: int = typer.Option(64, min=0, help="Waiting requests; more get 429 with Retry-After."),
        queue_timeout: float = typer.Option(30.0, min=0.001, help="Seconds a request may wait for the engine; longer (expected) waits get 429 with Retry-After."),
        max_body_mb: float = typer.Option(20.0, min=0.001, help="Largest request body."),
        max_pixels: int = typer.Option(16_000_000, min=1, help="Largest image, in pixels."),
        max_images: int = typer.Option(4, min=0, help="Images per request."),
        max_tokens: int = typer.Option(1024, min=1, help="Largest max_tokens a request may ask for."),
        max_tiles: int | None = typer.Option(None, min=1, help="Tiles per image of a local model (default: the checkpoint's own setting; the bundled model uses 1)."),
        allow_remote_images: bool = typer.Option(False, help="Fetch http(s) image URLs (off: only base64 data URLs)."),
        max_pages: int = typer.Option(100, min=1, help="Pages of a document read per request (POST /v1/documents)."),
        max_documents: int = typer.Option(2, min=1, help="Documents read at once; more get 429 with Retry-After."),
    ):
        """Serve a model over an OpenAI-compatible API, with a web page for chemists at /."""
        import uvicorn

        from chemvlm.engines import load_engine
        from chemvlm.serve.app import create_app
        from chemvlm.spec import ModelSpec, default_model

        spec = ModelSpec.parse(model or default_model())
        engine = load_engine(spec, max_tiles=max_tiles)  # a request's max_tokens travels with its question
        config = ServeConfig(
            model_name=name or served_name(str(spec)), api_key=api_key or None, batch_size=batch_size,
            batch_wait=batch_wait_ms / 1000, queue_size=queue_size, queue_timeout=queue_timeout,
            max_body_bytes=int(max_body_mb * 1024 * 1024), max_pixels=max_pixels, max_images=max_images,
            max_tokens=max_tokens, default_tokens=min(256, max_tokens), allow_remote_images=allow_remote_images,
            max_pages=max_pages, max_documents=max_documents,
        )
        if host not in ("127.0.0.1", "localhost", "::1") and not config.api_key:
            typer.echo(f"warning: listening on {host} without an API key (--api-key or {API_KEY_VARIABLE})", err=True)
        uvicorn.run(create_app(engine, config), host=host, port=port, log_level="info")
