# fasterapi._core.ws_methods / ws_dispatcher: the per-message WebSocket path in C (top level;
# src/cpp/bindings/ws_methods.cpp).
from typing import Any, Callable

def ws_methods(cls: type, connected: int) -> dict[str, Any]:
    """{'__anext__': ..., 'send': ...}: method descriptors to install on cls, the WebSocket class (the
    __slots__ _queue, state, _loop, _waiter, _waiter_ends_iteration, _srv, conn, handler; the methods
    _next(ends_iteration), _send(data), _sent(buffered), _enqueue(data)). TypeError if a slot is missing;
    RuntimeError if called for a second class."""

def ws_dispatcher(conns: dict[int, Any], failed: Callable[[Any], Any]) -> Callable[[int, str | bytes], None]:
    """The native server's on_ws_message(conn, data) for an App: conns maps a connection id to its
    WebSocket (of the class given to ws_methods; other values and missing ids are ignored). A waiting
    handler is resumed, else the message queued (_enqueue); a callback handler gets on_message(ws, data),
    and failed(ws) runs, as in an ``except Exception:`` block, when that raises."""
