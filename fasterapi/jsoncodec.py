"""JSON serialisation for responses, WebSocket ``send_json``, SSE data and ``publish``.

Compact (no spaces) UTF-8 JSON. With the optional extra ``fasterapi[orjson]`` installed,
orjson does the work (several times faster than the json module for the dicts a handler
typically returns); otherwise the standard json module does, through one shared encoder
(``json.dumps`` with options builds an encoder per call).

Both paths give the same text for what JSON can express, with two deliberate
differences of orjson that only make output more valid: NaN/Infinity become ``null``
instead of the non-JSON tokens ``NaN``/``Infinity``, and datetime, UUID, dataclass and
enum values are serialised instead of raising ``TypeError``. Anything orjson refuses
(e.g. an int beyond 64 bits) is retried with the json module, so the json module's
result or its ``TypeError``/``ValueError`` is what the caller sees.
"""

from __future__ import annotations

import json
from typing import Any, Callable

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_json_str: Callable[[Any], str] = _encoder.encode

try:
    import orjson as _orjson
except ImportError:  # the optional extra is not installed
    _orjson = None

BACKEND = "orjson" if _orjson is not None else "json"


if _orjson is not None:
    _dumps = _orjson.dumps
    _OPTS = _orjson.OPT_NON_STR_KEYS  # {1: x} -> {"1": x}, as the json module does
    _OrjsonError = _orjson.JSONEncodeError

    def dumps_bytes(obj: Any) -> bytes:
        """``obj`` as compact UTF-8 JSON bytes. Raises TypeError/ValueError when ``obj`` is not
        JSON-serialisable (the json module's error)."""
        try:
            return _dumps(obj, option=_OPTS)
        except _OrjsonError:
            return _json_str(obj).encode()

    def dumps_str(obj: Any) -> str:
        """``obj`` as compact JSON text (for WebSocket text frames and SSE data)."""
        try:
            return _dumps(obj, option=_OPTS).decode()
        except _OrjsonError:
            return _json_str(obj)
else:
    def dumps_bytes(obj: Any) -> bytes:
        """``obj`` as compact UTF-8 JSON bytes. Raises TypeError/ValueError when ``obj`` is not
        JSON-serialisable."""
        return _json_str(obj).encode()

    dumps_str = _json_str
