"""Process management: one asyncio loop per worker, N workers sharing the port.

With ``workers > 1`` the parent only supervises: it forks the workers (each binds the
port with SO_REUSEPORT), restarts one that dies (with backoff, within a restart
budget), forwards SIGTERM/SIGINT so every worker drains gracefully, and SIGHUP (after
checking the TLS files) so every worker reloads its certificate in place.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import select
import signal
import socket
import stat
import struct
import sys
import time
from collections import deque
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # pragma: no cover
    from .app import App
    from .tls import TLSConfig

logger = logging.getLogger("fasterapi")

#: Restart budget: more restarts than this (all workers together) within 60 s and the
#: parent gives up: it stops the other workers and exits with status 1.
MAX_RESTARTS_PER_MINUTE = 10
#: Delay before the first restart of a worker slot (seconds); it doubles for each
#: further restart of that slot within 60 s ...
RESTART_BACKOFF_START = 0.5
#: ... up to this cap (seconds).
RESTART_BACKOFF_CAP = 10.0

_WINDOW = 60.0


class ListenError(OSError):
    """The server cannot listen on host:port (port in use, host unknown, no permission).
    ``str(exc)`` is one line naming host:port, the cause and what to change; ``errno`` is set."""

    def __str__(self) -> str:
        return str(self.strerror)  # without OSError's "[Errno N]" prefix: the message says it


#: Below DEBUG, as uvicorn's "trace" (``--log-level trace``).
TRACE = 5
logging.addLevelName(TRACE, "TRACE")
#: ``log_level`` names, most to least severe.
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def _configure_logging(level: str) -> None:
    if level.lower() not in LOG_LEVELS:
        raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
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


def _hint(err: int) -> str:
    if err == errno.EADDRINUSE:
        return "another process is listening there; stop it or choose another --port"
    if err == errno.EACCES:
        return "ports below 1024 need privileges; choose a port >= 1024"
    if err == errno.EADDRNOTAVAIL:
        return "that address is not on this machine; use 127.0.0.1 or 0.0.0.0 as --host"
    return "check --host and --port"


def check_listen(host: str, port: int, reuse_port: bool) -> None:
    """Bind (and release) host:port with the socket options the native server uses, so a
    port in use or an unknown host is reported in the parent, once, before anything starts.
    Raises ListenError."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(errno.EINVAL, f"cannot listen on {host}:{port}: unknown host {host!r} ({exc.strerror}); "
                          "use an IP address or a resolvable name as --host") from None
    last: OSError | None = None
    for family, type_, proto, _, addr in infos:  # the first address that binds wins, as natively
        with socket.socket(family, type_, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            try:
                s.bind(addr)
                return
            except OSError as exc:
                last = exc
    assert last is not None
    err = last.errno or 0
    raise ListenError(err, f"cannot listen on {host}:{port}: {os.strerror(err)}; {_hint(err)}")


def bind_unix(path: str) -> socket.socket:
    """A listening Unix domain socket at ``path``, mode 0o666 (as uvicorn: who may connect is
    decided by the directory's permissions). A stale socket file (nobody accepts on it) is
    replaced; a live socket or a file that is not a socket is an error. Raises ListenError."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise ListenError(exc.errno or errno.EINVAL, f"cannot listen on unix:{path}: {exc.strerror}") from None
    if st is not None:
        if not stat.S_ISSOCK(st.st_mode):
            raise ListenError(errno.EEXIST, f"cannot listen on unix:{path}: the file exists and is not a socket; "
                              "remove it or choose another --uds path")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(path)
            except (ConnectionRefusedError, FileNotFoundError):
                os.unlink(path)  # stale: left by a server that did not shut down cleanly
            except OSError as exc:
                raise ListenError(exc.errno or errno.EINVAL, f"cannot listen on unix:{path}: {exc.strerror}") from None
            else:
                raise ListenError(errno.EADDRINUSE, f"cannot listen on unix:{path}: another server is accepting "
                                  "there; stop it or choose another --uds path")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, 0o666)
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise ListenError(exc.errno or errno.EINVAL, f"cannot listen on unix:{path}: {exc.strerror}") from None
    return sock


def _serve_one(app: "App", host: str, port: int, reuse_port: bool, loop: str = "auto",
               ready: Callable[[int], object] | None = None, tls: "TLSConfig | None" = None,
               fd: int | None = None) -> None:
    with asyncio.Runner(loop_factory=_loop_factory(loop)) as runner:
        try:
            runner.run(app.serve(host, port, reuse_port=reuse_port, ready=ready, tls=tls, fd=fd))
        except RuntimeError as exc:
            # The native listen() raises std::system_error ("cannot listen on H:P: ...") when
            # the port was taken between check_listen() and now.
            msg = str(exc)
            if msg.startswith(("cannot listen on", "cannot resolve host")):
                raise ListenError(errno.EADDRINUSE, f"{msg}; {_hint(errno.EADDRINUSE)}") from None
            raise


def run_app(app: "App", host: str, port: int, workers: int, log_level: str = "info", loop: str = "auto",
            max_restarts_per_minute: int | None = None, *, tls: "TLSConfig | None" = None,
            uds: str | None = None, fd: int | None = None) -> None:
    """Serve until SIGTERM/SIGINT. Raises ValueError for bad arguments, ListenError when
    host:port cannot be bound; with workers > 1 exits the process (sys.exit) with 0 after a
    graceful stop, 1 when a worker failed at startup or the restart budget ran out.
    ``max_restarts_per_minute``: None means MAX_RESTARTS_PER_MINUTE."""
    _configure_logging(log_level)
    if workers < 1:
        raise ValueError("workers must be >= 1")
    if uds is not None and fd is not None:
        raise ValueError("give uds or fd, not both")
    if workers > 1 and port == 0 and uds is None and fd is None:
        raise ValueError("workers > 1 needs a fixed port (they share it with SO_REUSEPORT)")
    if max_restarts_per_minute is None:
        max_restarts_per_minute = MAX_RESTARTS_PER_MINUTE
    if max_restarts_per_minute < 0:
        raise ValueError("max_restarts_per_minute must be >= 0")
    if uds is not None:
        # Bound once here and inherited by every worker (SO_REUSEPORT is for TCP/UDP only).
        sock = bind_unix(uds)
        try:
            _serve(app, host, 0, workers, loop, max_restarts_per_minute, tls, sock.fileno())
        finally:
            sock.close()
            try:
                os.unlink(uds)
            except OSError:
                pass
        return
    if fd is None:
        check_listen(host, port, reuse_port=workers > 1)
    _serve(app, host, port, workers, loop, max_restarts_per_minute, tls, fd)


def _serve(app: "App", host: str, port: int, workers: int, loop: str, budget: int, tls: "TLSConfig | None",
           fd: int | None) -> None:
    if workers == 1:
        _serve_one(app, host, port, reuse_port=False, loop=loop, tls=tls, fd=fd)
        return
    sys.exit(_Supervisor(app, host, port, workers, loop, budget, tls=tls, fd=fd).run())


def _stop_with_parent(parent: int) -> None:
    """Linux: SIGTERM this worker (a graceful drain) when the supervising parent dies, even
    by SIGKILL, so no unsupervised worker keeps holding the port."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        ulong = ctypes.c_ulong  # prctl's arguments are unsigned long: no garbage upper halves
        libc.prctl(PR_SET_PDEATHSIG, ulong(int(signal.SIGTERM)), ulong(0), ulong(0), ulong(0))
    except (OSError, AttributeError):  # not Linux: the worker outlives a killed parent
        return
    if os.getppid() != parent:  # the parent died before prctl() took effect
        os.kill(os.getpid(), signal.SIGTERM)


class _Supervisor:
    """The parent of ``workers`` forked processes. Workers report "listening" through a pipe
    (4-byte pid); the parent sleeps in select() on that pipe and on the signal wake-up pipe,
    so a SIGCHLD, SIGTERM or a due restart wakes it without polling."""

    def __init__(self, app: "App", host: str, port: int, workers: int, loop: str, budget: int, *,
                 tls: "TLSConfig | None" = None, fd: int | None = None) -> None:
        self.app, self.host, self.port, self.workers, self.loop, self.budget = app, host, port, workers, loop, budget
        self.tls, self.fd = tls, fd
        self.children: dict[int, int] = {}  # pid -> slot
        self.ready: set[int] = set()  # pids that reported listening
        self.restarts: deque[float] = deque()  # monotonic times of restarts, all slots
        self.slot_restarts: dict[int, deque[float]] = {i: deque() for i in range(workers)}
        self.due: dict[int, float] = {}  # slot -> monotonic time its restart is due
        self.generation: dict[int, int] = {i: 0 for i in range(workers)}
        self.stopping = False
        self.status = 0

    # -- workers --
    def _spawn(self, slot: int) -> int:
        # Signals stay blocked across fork() so a SIGTERM cannot run the parent's handler in
        # the child (which would signal its siblings) before the child resets it.
        sigs = {signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGHUP}
        signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
        try:
            pid = os.fork()
            if pid == 0:
                self._worker(slot, sigs)  # never returns
            # Registered before a pending SIGTERM can run _on_signal, so it reaches this one too.
            self.children[pid] = slot
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, sigs)
        return pid

    def _worker(self, slot: int, sigs: set[int]) -> None:
        code = 0
        try:
            # Undo the parent's signal set-up: serve() installs its own SIGTERM/SIGINT handlers.
            signal.set_wakeup_fd(-1)
            for sig in sigs:
                # SIGHUP ignored until serve() installs its TLS reload (default would kill us).
                signal.signal(sig, signal.SIG_IGN if sig == signal.SIGHUP else signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, sigs)
            _stop_with_parent(self.parent)
            os.close(self.ready_r)
            os.close(self.wake_r)
            os.close(self.wake_w)
            ready_w = self.ready_w

            def ready(_port: int) -> None:
                os.write(ready_w, struct.pack("i", os.getpid()))

            _serve_one(self.app, self.host, self.port, reuse_port=self.fd is None, loop=self.loop, ready=ready,
                       tls=self.tls, fd=self.fd)
        except BaseException:  # noqa: BLE001 - the process ends here either way
            logger.exception("worker %d failed", slot)
            code = 1
        finally:
            os._exit(code)

    def _signal_all(self, sig: int) -> None:
        for pid in list(self.children):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    # -- main loop --
    def run(self) -> int:
        self.parent = os.getpid()
        self.ready_r, self.ready_w = os.pipe()
        self.wake_r, self.wake_w = os.pipe()
        for fd in (self.ready_r, self.wake_r, self.wake_w):
            os.set_blocking(fd, False)
        old_wakeup = signal.set_wakeup_fd(self.wake_w)
        handlers = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        handlers[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake select()
        handlers[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_hangup)
        try:
            for slot in range(self.workers):
                self._spawn(slot)
            logger.info("started %d workers on %s:%d: %s", self.workers, self.host, self.port, sorted(self.children))
            while self.children or (self.due and not self.stopping):
                self._wait()
                self._read_ready()
                self._reap()
                self._restart_due()
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, h in handlers.items():
                signal.signal(sig, h)
            for fd in (self.ready_r, self.ready_w, self.wake_r, self.wake_w):
                os.close(fd)
        return self.status

    def _on_signal(self, signum: int, _frame: object) -> None:
        if not self.stopping:
            logger.info("received %s: stopping %d workers gracefully", signal.Signals(signum).name, len(self.children))
        self.stopping = True
        self.due.clear()
        self._signal_all(signal.SIGTERM)

    def _on_hangup(self, _signum: int, _frame: object) -> None:
        """SIGHUP: certificate renewal. The files are checked here first, so a bad renewal is one
        error line and every worker keeps serving the previous certificate."""
        if self.tls is None:
            logger.warning("received SIGHUP: not serving TLS, nothing to reload")
            return
        try:
            self.tls.check()
        except ValueError as exc:  # TLSConfigError
            logger.error("received SIGHUP: TLS files not reloaded, workers keep the previous certificate: %s", exc)
            return
        logger.info("received SIGHUP: reloading the TLS files in %d workers", len(self.children))
        self._signal_all(signal.SIGHUP)

    def _wait(self) -> None:
        timeout = None
        if self.due and not self.stopping:
            timeout = max(0.0, min(self.due.values()) - time.monotonic())
        try:
            select.select([self.ready_r, self.wake_r], [], [], timeout)
        except InterruptedError:
            pass
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _read_ready(self) -> None:
        try:
            data = os.read(self.ready_r, 4096)
        except BlockingIOError:
            return
        for (pid,) in struct.iter_unpack("i", data[: len(data) // 4 * 4]):  # writes of 4 bytes are atomic
            self.ready.add(pid)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, wstatus = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            slot = self.children.pop(pid, None)
            if slot is None:
                continue
            self._read_ready()  # a "listening" note may still sit in the pipe
            was_ready = pid in self.ready
            self.ready.discard(pid)
            code = os.waitstatus_to_exitcode(wstatus)
            how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
            if self.stopping:
                if code != 0:
                    logger.warning("worker %d (pid %d) %s while stopping", slot, pid, how)
                continue
            if not was_ready and self.generation[slot] == 0 and code > 0:
                # A first worker that failed before it listened (a startup hook raised, the
                # port went away): an error a restart would only repeat. Killed by a signal
                # (OOM killer, an operator) is restarted like any later death.
                logger.error("worker %d (pid %d) %s before it started listening; stopping", slot, pid, how)
                self._give_up()
                continue  # other workers may have exited already: reap them now, no SIGCHLD will come again
            self._schedule_restart(slot, pid, how)

    def _schedule_restart(self, slot: int, pid: int, how: str) -> None:
        now = time.monotonic()
        for q in (self.restarts, self.slot_restarts[slot]):
            while q and now - q[0] > _WINDOW:
                q.popleft()
        if len(self.restarts) >= self.budget:
            logger.error("worker %d (pid %d) %s; %d restarts within the last %.0f s is the limit "
                         "(max_restarts_per_minute); stopping the other workers and exiting with 1",
                         slot, pid, how, len(self.restarts), _WINDOW)
            self._give_up()
            return
        delay = min(RESTART_BACKOFF_CAP, RESTART_BACKOFF_START * 2 ** len(self.slot_restarts[slot]))
        self.restarts.append(now)
        self.slot_restarts[slot].append(now)
        self.due[slot] = now + delay
        logger.error("worker %d (pid %d) %s; restarting it in %.1f s (%d still running)",
                     slot, pid, how, delay, len(self.children))

    def _restart_due(self) -> None:
        if self.stopping:
            return
        now = time.monotonic()
        for slot, when in sorted(self.due.items()):
            if when <= now:
                del self.due[slot]
                self.generation[slot] += 1
                pid = self._spawn(slot)
                logger.info("worker %d restarted as pid %d", slot, pid)

    def _give_up(self) -> None:
        self.status = 1
        self.stopping = True
        self.due.clear()
        self._signal_all(signal.SIGTERM)
