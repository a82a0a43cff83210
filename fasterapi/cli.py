"""`fasterapi run module:app --host H --port P --workers N` (also `python -m fasterapi`)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence


def load_app(spec: str):
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"error: expected 'module:app', got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(f"error: cannot import module {module_name!r}: {exc}") from None
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise SystemExit(f"error: module {module_name!r} has no attribute {attr!r}") from None
    from .app import App

    if not isinstance(obj, App):
        raise SystemExit(f"error: {spec!r} is a {type(obj).__name__}, not a fasterapi.App")
    return obj


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fasterapi", description="Run a FasterAPI application.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve an app")
    run.add_argument("app", help="module:attribute of the App, e.g. myapp:app")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--workers", type=int, default=1)
    run.add_argument("--broker", default=None, metavar="URL",
                     help="e.g. redis://localhost:6379/0: pub/sub and SSE replay across workers and machines "
                          "(default: env FASTERAPI_BROKER)")
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    app = load_app(args.app)
    from .broker import BrokerError

    try:
        app.run(host=args.host, port=args.port, workers=args.workers, log_level=args.log_level, broker=args.broker)
    except BrokerError as exc:
        raise SystemExit(f"error: {exc}") from None
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
