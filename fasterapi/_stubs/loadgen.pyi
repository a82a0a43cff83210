# Stub for the submodule fasterapi._core.loadgen (the lead merges it into fasterapi/_core.pyi).
from typing import Any

def run(args: list[str]) -> dict[str, Any]:
    """Run fasterapi-loadgen with CLI-style args (mode first); returns the JSON report as a dict.

    Blocks for the run's duration with the GIL released. Raises ValueError on bad arguments,
    RuntimeError if the run cannot start (e.g. the host does not resolve)."""

def stop() -> None:
    """End the run(s) in progress early (call it from another thread); run() then returns a report
    covering the time actually measured."""

def usage() -> str:
    """The fasterapi-loadgen --help text."""
