"""fasterapi.jsoncodec: orjson (the [orjson] extra) and the json-module fallback give the same
compact UTF-8 JSON, and the fallback is what runs when orjson is absent."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fasterapi import jsoncodec

VALUES = [
    {"id": 1, "name": "café ✓", "tags": ["a", "b"], "nested": {"x": None, "y": True, "z": 1.5}},
    [1, 2, 3],
    {1: "int key", "s": "str key"},
    "plain",
    0,
    {"big": 2**70},  # beyond 64 bits: orjson refuses, the json module answers
    (1, 2),
    {"esc": "quote \" backslash \\ newline \n tab \t nul \x00"},
]


def _reference(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_same_text_as_the_json_module(value):
    assert jsoncodec.dumps_str(value) == _reference(value)
    assert jsoncodec.dumps_bytes(value) == _reference(value).encode()


def test_unserialisable_raises_type_error():
    with pytest.raises(TypeError):
        jsoncodec.dumps_bytes({"x": object()})
    with pytest.raises(TypeError):
        jsoncodec.dumps_str({"x": object()})


def test_orjson_is_used_when_installed():
    pytest.importorskip("orjson")
    assert jsoncodec.BACKEND == "orjson"


def test_fallback_without_orjson():
    code = ("import sys; sys.modules['orjson'] = None\n"
            "from fasterapi import jsoncodec as j\n"
            "assert j.BACKEND == 'json', j.BACKEND\n"
            "print(j.dumps_bytes({'a': [1, 'é']}).decode(), j.dumps_str({1: 2}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ['{"a":[1,"é"]}', '{"1":2}']
