"""FasterAPI: FastAPI-style Python API over a native C++ HTTP/1.1, WebSocket and SSE core."""

from . import _core

__version__ = _core.__version__

__all__ = ["_core", "__version__"]
