"""Path templates compiled once at registration (Starlette style).

``/items/{item_id:int}`` -> a regex plus converters; ``{name}`` is ``str`` (one
segment), ``{rest:path}`` spans segments.

Matching runs on the *routing form* of the raw request path (``routing_path``):
split at ``/`` first, then each segment percent-decoded, so an encoded ``%2F``
stays inside its segment (RFC 3986 §2.2) and ``/p/a%2Fb`` matches ``/p/{name}``
with ``name == "a/b"``. In the routing form a decoded ``/`` is kept as ``%2F``
and a decoded ``%`` as ``%25``; captured values are unescaped again.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import unquote
from dataclasses import dataclass
from typing import Any, Callable, Pattern

_PARAM = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?}")


@dataclass(frozen=True)
class Converter:
    regex: str
    convert: Callable[[str], Any]


CONVERTERS: dict[str, Converter] = {
    "str": Converter(r"[^/]+", str),
    "path": Converter(r".*", str),
    "int": Converter(r"-?[0-9]+", int),
    "float": Converter(r"-?[0-9]+(?:\.[0-9]+)?", float),
    "uuid": Converter(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", uuid.UUID),
}


def _escape(segment: str) -> str:
    return segment.replace("%", "%25").replace("/", "%2F")


def routing_path(raw_path: str) -> str:
    """The routing form of a raw (still percent-encoded) path: segments split at ``/``,
    then each decoded (UTF-8, invalid bytes replaced) and re-escaped so a decoded ``/``
    or ``%`` cannot act as a separator or escape. A path without ``%`` is its own form."""
    if "%" not in raw_path:
        return raw_path
    return "/".join(_escape(unquote(seg)) for seg in raw_path.split("/"))


def static_key(template: str) -> str:
    """The routing form of a parameterless template (its ``%`` are literal)."""
    return template.replace("%", "%25")


class PathTemplate:
    __slots__ = ("template", "regex", "converters", "param_names", "is_static", "key")

    def __init__(self, template: str) -> None:
        if not template.startswith("/"):
            raise ValueError(f"route path must start with '/': {template!r}")
        self.template = template
        self.converters: dict[str, Callable[[str], Any]] = {}
        parts: list[str] = []
        pos = 0
        for m in _PARAM.finditer(template):
            name, kind = m.group(1), m.group(2) or "str"
            if kind not in CONVERTERS:
                raise ValueError(
                    f"unknown path parameter type {kind!r} in {template!r}; use one of {sorted(CONVERTERS)}"
                )
            if name in self.converters:
                raise ValueError(f"duplicate path parameter {name!r} in {template!r}")
            parts.append(re.escape(static_key(template[pos : m.start()])))
            parts.append(f"(?P<{name}>{CONVERTERS[kind].regex})")
            self.converters[name] = CONVERTERS[kind].convert
            pos = m.end()
        parts.append(re.escape(static_key(template[pos:])))
        if "{" in template[pos:] or "}" in template[pos:]:
            raise ValueError(f"malformed path parameter in {template!r}")
        self.regex: Pattern[str] = re.compile("^" + "".join(parts) + "$")
        self.param_names = tuple(self.converters)
        self.is_static = not self.converters
        self.key = static_key(template)

    def match(self, path: str) -> dict[str, Any] | None:
        """Match the routing form of a path (see ``routing_path``); returns the converted
        parameters (decoded: ``"a/b"`` for ``a%2Fb``) or None."""
        if self.is_static:
            return {} if path == self.key else None
        m = self.regex.match(path)
        if m is None:
            return None
        out: dict[str, Any] = {}
        for name, raw in m.groupdict().items():
            if "%" in raw:
                raw = unquote(raw)  # only %25 and %2F remain escaped in the routing form
            try:
                out[name] = self.converters[name](raw)
            except ValueError:
                return None
        return out
