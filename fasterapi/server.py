"""Process management: one asyncio loop per worker, N workers sharing the port."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .app import App

logger = logging.getLogger("fasterapi")


def _configure_logging(level: str) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=level.upper(), format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")


def _loop_factory(loop: str):
    """'auto' uses uvloop when installed (a faster event loop for the Python side), else asyncio."""
    loop = os.environ.get("FASTERAPI_LOOP", loop)
    if loop not in ("auto", "uvloop", "asyncio"):
        raise ValueError(f"loop must be 'auto', 'uvloop' or 'asyncio', not {loop!r}")
    if loop == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if loop == "uvloop":
            raise RuntimeError("loop='uvloop' needs the uvloop package: pip install uvloop") from None
        return None
    return uvloop.new_event_loop


def _serve_one(app: "App", host: str, port: int, reuse_port: bool, loop: str = "auto") -> None:
    with asyncio.Runner(loop_factory=_loop_factory(loop)) as runner:
        runner.run(app.serve(host, port, reuse_port=reuse_port))


def run_app(app: "App", host: str, port: int, workers: int, log_level: str = "info", loop: str = "auto") -> None:
    _configure_logging(log_level)
    if workers < 1:
        raise ValueError("workers must be >= 1")
    if workers == 1:
        _serve_one(app, host, port, reuse_port=False, loop=loop)
        return
    if port == 0:
        raise ValueError("workers > 1 needs a fixed port (they share it with SO_REUSEPORT)")
    children: dict[int, int] = {}
    for i in range(workers):
        pid = os.fork()
        if pid == 0:  # worker
            code = 0
            try:
                _serve_one(app, host, port, reuse_port=True, loop=loop)
            except BaseException:  # noqa: BLE001
                logger.exception("worker %d failed", i)
                code = 1
            finally:
                os._exit(code)
        children[pid] = i
    logger.info("started %d workers on %s:%d: %s", workers, host, port, sorted(children))

    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    status = 0
    while children:
        try:
            pid, wstatus = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        idx = children.pop(pid, None)
        code = os.waitstatus_to_exitcode(wstatus)
        if code != 0:
            if not stopping:
                # A worker died on its own: the others keep serving their connections.
                logger.error("worker %s (pid %d) exited with %d; %d still running", idx, pid, code, len(children))
            status = status or (1 if not stopping else 0)
    time.sleep(0)
    sys.exit(status)
