"""Path templates compiled once at registration (Starlette style).

``/items/{item_id:int}`` -> a regex plus converters; ``{name}`` is ``str`` (one
segment), ``{rest:path}`` spans segments.
"""

from __future__ import annotations

import re
import uuid
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


class PathTemplate:
    __slots__ = ("template", "regex", "converters", "param_names", "is_static")

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
            parts.append(re.escape(template[pos : m.start()]))
            parts.append(f"(?P<{name}>{CONVERTERS[kind].regex})")
            self.converters[name] = CONVERTERS[kind].convert
            pos = m.end()
        parts.append(re.escape(template[pos:]))
        if "{" in template[pos:] or "}" in template[pos:]:
            raise ValueError(f"malformed path parameter in {template!r}")
        self.regex: Pattern[str] = re.compile("^" + "".join(parts) + "$")
        self.param_names = tuple(self.converters)
        self.is_static = not self.converters

    def match(self, path: str) -> dict[str, Any] | None:
        if self.is_static:
            return {} if path == self.template else None
        m = self.regex.match(path)
        if m is None:
            return None
        out: dict[str, Any] = {}
        for name, raw in m.groupdict().items():
            try:
                out[name] = self.converters[name](raw)
            except ValueError:
                return None
        return out
