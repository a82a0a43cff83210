"""FasterAPI: FastAPI-style Python API over a native C++ HTTP/1.1, WebSocket and SSE core."""

from . import _core
from .app import App
from .broker import BrokerError
from .proxy_headers import Address
from .requests import HTMLResponse, HTTPException, JSONResponse, PlainTextResponse, Request, Response
from .sse import ServerSentEvent
from .websocket import WebSocket, WebSocketDisconnect

__version__ = _core.__version__

__all__ = [
    "Address",
    "App",
    "BrokerError",
    "HTMLResponse",
    "HTTPException",
    "JSONResponse",
    "PlainTextResponse",
    "Request",
    "Response",
    "ServerSentEvent",
    "WebSocket",
    "WebSocketDisconnect",
    "__version__",
]
