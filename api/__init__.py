"""TraceNode's partner gateway: the HTTP API over a node (``create_app(node)``)."""

from api.main import create_app

__all__ = ["create_app"]
