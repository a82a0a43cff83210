"""``fasterapi run --reload``: development only. A parent process watches files (with
``watchfiles``) and runs the server in a child process, restarted after each change.

The parent never imports the app: an edit that breaks the import makes the child print its
one ``error:`` line (file and line) and exit; the parent keeps watching and starts a fresh
child on the next change. A restart is graceful: SIGTERM (the server drains as on any stop),
a bounded wait, SIGKILL only past it, then the new child. SIGTERM/SIGINT to the parent stop
the child the same way and end the parent with status 0.

The child is ``python -m fasterapi.reload '<options as JSON>'``: it serves exactly what the
parent parsed (every ``fasterapi run`` option, present and future, passes through as is).
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Sequence

logger = logging.getLogger("fasterapi.reload")

#: Watched when no ``--reload-include`` is given (uvicorn's default).
DEFAULT_INCLUDES = ("*.py",)
#: Never watched (editor swap and backup files), besides watchfiles' own defaults (.git,
#: __pycache__, .venv, *.pyc, ...).
DEFAULT_EXCLUDES = (".*", ".py[cod]", ".sw.*", "~*")
#: Added to the app's graceful-shutdown bound before a child that will not stop is killed (s).
KILL_MARGIN = 5.0
#: The app's graceful-shutdown bound when --timeout-graceful-shutdown is not given (s):
#: App(shutdown_timeout=) defaults to it, and the parent cannot read the app's own value.
DEFAULT_GRACEFUL = 10.0


class ReloadError(Exception):
    """--reload cannot start (watchfiles missing, a directory that does not exist): one line."""


def check(dirs: Sequence[str] | None) -> list[Path]:
    """The directories to watch (default: the current one, where the app is imported from),
    resolved; ReloadError when watchfiles is missing or a directory does not exist."""
    try:
        import watchfiles  # noqa: F401
    except ImportError:
        raise ReloadError("--reload needs the watchfiles package: pip install 'fasterapi[reload]'") from None
    out: list[Path] = []
    for d in dirs or [os.getcwd()]:
        p = Path(d).resolve()
        if not p.is_dir():
            raise ReloadError(f"--reload-dir {d!r} is not a directory")
        if p not in out:
            out.append(p)
    return out


class FileFilter:
    """watchfiles filter: watchfiles' defaults, then a file name (or path) must match an
    include glob and no exclude glob. An explicit include wins over a default exclude."""

    def __init__(self, includes: Sequence[str] | None, excludes: Sequence[str] | None) -> None:
        import watchfiles

        self._default = watchfiles.DefaultFilter()
        self.includes = tuple(includes or DEFAULT_INCLUDES)
        self.excludes = tuple(excludes or ()) + tuple(e for e in DEFAULT_EXCLUDES if e not in self.includes)

    def __call__(self, change: Any, path: str) -> bool:
        if not self._default(change, path):
            return False
        name = os.path.basename(path)

        def hit(patterns: tuple[str, ...]) -> bool:
            return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(path, p) for p in patterns)

        return hit(self.includes) and not hit(self.excludes)


class Reloader:
    """Runs the child for ``options`` (the parsed ``fasterapi run`` namespace as a dict) and
    restarts it on every change under ``dirs``."""

    def __init__(self, options: dict[str, Any], dirs: list[Path], file_filter: FileFilter,
                 graceful_timeout: float) -> None:
        self.options = options
        self.dirs = dirs
        self.filter = file_filter
        self.kill_after = graceful_timeout + KILL_MARGIN
        self.child: subprocess.Popen[bytes] | None = None
        self.stop = threading.Event()
        self.reported_exit = False

    def _start(self) -> None:
        cmd = [sys.executable, "-m", "fasterapi.reload", json.dumps(self.options), str(os.getpid())]
        self.child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
        self.reported_exit = False

    def _stop_child(self) -> None:
        child, self.child = self.child, None
        if child is None or child.poll() is not None:
            return
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(self.kill_after)
        except subprocess.TimeoutExpired:
            logger.warning("server (pid %d) did not stop within %.0f s of SIGTERM; killing it",
                           child.pid, self.kill_after)
            child.kill()
            child.wait()

    def _check_child(self) -> None:
        child = self.child
        if child is None or self.reported_exit or child.poll() is None:
            return
        self.reported_exit = True
        # Status 2: the child already said what is wrong in one "error:" line (e.g. the edit
        # broke the import); anything else gets one line here.
        if child.returncode not in (0, 2):
            logger.error("server exited with status %d; restarting it on the next change", child.returncode)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stop.set()

    def _on_hangup(self, _signum: int, _frame: object) -> None:
        # TLS certificate renewal: the server reloads its files in place (it logs the outcome).
        if not self.options.get("ssl_certfile"):
            logger.warning("received SIGHUP: not serving TLS, nothing to reload")
            return
        child = self.child
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGHUP)

    def run(self) -> int:
        import watchfiles

        logging.getLogger("watchfiles").setLevel(logging.WARNING)  # "1 change detected": ours says which
        handlers = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        handlers[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_hangup)
        try:
            logger.info("watching %s for changes (%s); reloading the server on change",
                        ", ".join(str(d) for d in self.dirs), ", ".join(self.filter.includes))
            self._start()
            # yield_on_timeout: wake every second to notice a child that exited by itself.
            for changes in watchfiles.watch(*self.dirs, watch_filter=self.filter, stop_event=self.stop,
                                            rust_timeout=1000, yield_on_timeout=True, raise_interrupt=False):
                if self.stop.is_set():
                    break
                if not changes:
                    self._check_child()
                    continue
                names = sorted({os.path.relpath(path, self.dirs[0]) for _, path in changes})
                logger.info("changed: %s; restarting the server", ", ".join(names[:5])
                            + (f" (+{len(names) - 5} more)" if len(names) > 5 else ""))
                self._stop_child()
                self._start()
        finally:
            self._stop_child()
            for sig, h in handlers.items():
                signal.signal(sig, h)
        return 0


def run(options: dict[str, Any], reload_dirs: Sequence[str] | None, includes: Sequence[str] | None,
        excludes: Sequence[str] | None, graceful_timeout: float | None) -> int:
    """Watch and serve until SIGTERM/SIGINT; returns the exit status (0). ReloadError first
    when it cannot start."""
    dirs = check(reload_dirs)
    graceful = DEFAULT_GRACEFUL if graceful_timeout is None else graceful_timeout
    return Reloader(options, dirs, FileFilter(includes, excludes), graceful).run()


if __name__ == "__main__":
    # The child: serve the parent's parsed options (cli.serve never starts another reloader),
    # and stop (gracefully) if the parent dies, even by SIGKILL.
    from .cli import serve
    from .server import _stop_with_parent

    _stop_with_parent(int(sys.argv[2]))
    sys.exit(serve(json.loads(sys.argv[1])))
