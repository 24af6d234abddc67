"""OpenAI-compatible HTTP API and web page: `chemvlm serve`."""

from chemvlm.serve.config import ServeConfig

__all__ = ["ServeConfig", "create_app"]


def __getattr__(name):
    # Lazy: the command line imports this package to register `serve`; the app pulls in torch.
    if name == "create_app":
        from chemvlm.serve.app import create_app

        return create_app
    raise AttributeError(name)
