"""`fasterapi run module:app --host H --port P --workers N` (also `python -m fasterapi`).
Option names, meanings and defaults follow uvicorn's where both have the option.

Mistakes in the command line or the environment (bad ``module:app``, app not found, port
in use, bad option value) are reported as one ``error: ...`` line on stderr saying what
to change, with exit status 2 (usage) or 1 (cannot listen); never a traceback. An
exception from the app's own code while serving (a startup hook) is logged with its
traceback, then summed up in one ``error:`` line; exit status 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from typing import NoReturn, Sequence

from . import server
from .broker import BrokerError
from .proxy_headers import TrustedHosts
from .tls import TLSConfigError


class CLIError(Exception):
    """A one-line error for the user; ``status`` is the exit status."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def _where(exc: BaseException, module_name: str) -> str:
    """' (file.py, line N)' of the innermost frame of the failing import, for a one-line error."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" ({exc.filename}, line {exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    for fr in reversed(frames):
        if "importlib" not in fr.filename and not fr.filename.startswith("<"):
            return f" ({fr.filename}, line {fr.lineno})"
    return ""


def load_app(spec: str):
    """Import ``module:attribute`` (from the current directory too) and return the App.
    Raises CLIError (one line) when it cannot."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr or not attr.isidentifier():
        raise CLIError(f"expected 'module:app' (e.g. myproject.main:app), got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise CLIError(f"no module named {exc.name!r}; run from the directory that holds it "
                           f"or check the spelling of {module_name!r}") from None
        raise CLIError(f"importing {module_name!r} failed: {exc}{_where(exc, module_name)}; "
                       "install the missing package") from None
    except Exception as exc:  # noqa: BLE001 - the user's module raised while importing
        text = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        msg = text.splitlines()[0] if text else ""
        raise CLIError(f"importing {module_name!r} raised {type(exc).__name__}: {msg}"
                       f"{_where(exc, module_name)}") from None
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise CLIError(f"module {module_name!r} has no attribute {attr!r}; "
                       f"is the App named differently (e.g. {module_name}:app)?") from None
    from .app import App

    if not isinstance(obj, App):
        raise CLIError(f"{spec!r} is a {type(obj).__name__}, not a fasterapi.App")
    return obj


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {port}")
    return port


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def _non_negative(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {n}")
    return n


def _seconds(text: str, minimum: float, inclusive: bool) -> float:
    try:
        n = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    from .app import MAX_TIMEOUT

    if not ((n >= minimum if inclusive else n > minimum) and n <= MAX_TIMEOUT):
        raise argparse.ArgumentTypeError(f"must be {'>=' if inclusive else '>'} {minimum:g} and "
                                         f"<= {MAX_TIMEOUT:.0f} seconds, got {text}")
    return n


def _positive_seconds(text: str) -> float:
    return _seconds(text, 0.0, inclusive=False)


def _non_negative_seconds(text: str) -> float:
    return _seconds(text, 0.0, inclusive=True)


def _allow_ips(text: str) -> str:
    try:
        TrustedHosts(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("forwarded_allow_ips: ")) from None
    return text


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line (argparse prints the usage too); --help still shows the full usage.
        raise CLIError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="fasterapi", description="Run a FasterAPI application.")
    parser.add_argument("--version", action="version", version=f"fasterapi {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="serve an app",
                         description="Serve a FasterAPI app until SIGTERM/SIGINT (graceful stop). With TLS, "
                                     "SIGHUP reloads the certificate files in place.",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    run.add_argument("app", help="module:attribute of the App, e.g. myapp:app (imported from the current directory)")
    run.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    run.add_argument("--port", type=_port, default=8000, help="TCP port; 0 picks a free one (one worker only)")
    run.add_argument("--workers", type=_positive, default=1,
                     help="processes sharing the port with SO_REUSEPORT; >1 needs a fixed --port")
    run.add_argument("--log-level", default="info", choices=list(server.LOG_LEVELS), help="logging level")
    run.add_argument("--access-log", default=True, action=argparse.BooleanOptionalAction,
                     help='one line per HTTP request and WebSocket upgrade on the logger "fasterapi.access" '
                          "(INFO): client, request line, status, body bytes, ms")
    run.add_argument("--broker", default=None, metavar="URL",
                     help="e.g. redis://localhost:6379/0: pub/sub and SSE replay across workers and machines "
                          "(None: env FASTERAPI_BROKER, else in-process only)")
    run.add_argument("--loop", default="auto", choices=["auto", "uvloop", "asyncio"],
                     help="event loop for the Python side (auto: uvloop when installed)")
    run.add_argument("--max-restarts-per-minute", type=_non_negative, default=server.MAX_RESTARTS_PER_MINUTE,
                     help="with --workers >1: worker restarts allowed per 60 s (all workers together) "
                          "before the parent stops and exits 1")
    tls = run.add_argument_group("TLS (https:// and wss://, served natively with OpenSSL; TLS 1.2 and 1.3)")
    tls.add_argument("--ssl-certfile", default=None, metavar="PATH",
                     help="PEM certificate chain (leaf first); turns TLS on")
    tls.add_argument("--ssl-keyfile", default=None, metavar="PATH",
                     help="PEM private key (None: the key is in --ssl-certfile)")
    tls.add_argument("--ssl-keyfile-password", default=None, metavar="PASSWORD", help="for an encrypted key file")
    tls.add_argument("--ssl-ca-certs", default=None, metavar="PATH",
                     help="PEM bundle that verifies client certificates (mutual TLS)")
    tls.add_argument("--ssl-cert-reqs", type=int, default=0, choices=[0, 1, 2],
                     help="client certificates: 0 not asked, 1 optional, 2 required (as Python's ssl.CERT_*)")
    tls.add_argument("--ssl-ciphers", default=None, metavar="LIST",
                     help="OpenSSL cipher list for TLS 1.2 (None: OpenSSL's default, no weak ciphers)")
    sock = run.add_argument_group("listening socket (instead of --host/--port)")
    sock.add_argument("--uds", default=None, metavar="PATH",
                      help="Unix domain socket path (e.g. behind nginx); a stale socket file is replaced; mode 0666")
    sock.add_argument("--fd", type=_non_negative, default=None,
                      help="serve an already-listening socket inherited as this file descriptor")
    front = run.add_argument_group("behind a proxy")
    front.add_argument("--proxy-headers", default=True, action=argparse.BooleanOptionalAction,
                       help="take the client address and scheme from X-Forwarded-For/X-Forwarded-Proto "
                            "(else RFC 7239 Forwarded) when the peer is in --forwarded-allow-ips")
    front.add_argument("--forwarded-allow-ips", type=_allow_ips, default=None, metavar="IPS",
                       help="comma list of proxy IPs / CIDR networks to trust with proxy headers, '*' for all "
                            "(None: env FORWARDED_ALLOW_IPS, else 127.0.0.1)")
    limits = run.add_argument_group("limits and timeouts (None: the App's own setting)")
    limits.add_argument("--timeout-keep-alive", type=_positive_seconds, default=None, metavar="SECONDS",
                        help="close an idle keep-alive connection after this long "
                             "(None: App(keepalive_timeout=), 5.0)")
    limits.add_argument("--limit-concurrency", type=_positive, default=None, metavar="N",
                        help="connections per worker (HTTP, WebSocket and SSE alike); a new one beyond it is "
                             "answered 503 and closed (None: App(max_connections=), 10000)")
    limits.add_argument("--timeout-graceful-shutdown", type=_non_negative_seconds, default=None, metavar="SECONDS",
                        help="on SIGTERM/SIGINT wait at most this long for connections to finish, then close "
                             "them (None: App(shutdown_timeout=), 10.0)")
    dev = run.add_argument_group("development")
    dev.add_argument("--reload", action="store_true", default=False,
                     help="restart the server when a watched file changes (needs watchfiles: "
                          "pip install 'fasterapi[reload]'); one worker only")
    dev.add_argument("--reload-dir", action="append", default=None, metavar="DIR",
                     help="with --reload: a directory to watch, repeatable (None: the current directory)")
    dev.add_argument("--reload-include", action="append", default=None, metavar="GLOB",
                     help="with --reload: file names to watch, repeatable (None: *.py)")
    dev.add_argument("--reload-exclude", action="append", default=None, metavar="GLOB",
                     help="with --reload: file names to ignore, repeatable "
                          "(None: .*, .py[cod], .sw.*, ~* and watchfiles' defaults)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.workers > 1 and args.port == 0:
            raise CLIError("--workers > 1 needs a fixed --port (the workers share it with SO_REUSEPORT)")
        if args.uds is not None and args.fd is not None:
            raise CLIError("give --uds or --fd, not both")
        if args.reload and args.workers > 1:
            raise CLIError("--reload runs one worker; drop --workers (or --reload)")
        reload_only = [f"--{n.replace('_', '-')}" for n in ("reload_dir", "reload_include", "reload_exclude")
                       if getattr(args, n)]
        if reload_only and not args.reload:
            raise CLIError(f"{', '.join(reload_only)} needs --reload")
        env_ips = os.environ.get("FORWARDED_ALLOW_IPS")
        if args.proxy_headers and args.forwarded_allow_ips is None and env_ips:
            try:
                TrustedHosts(env_ips)
            except ValueError as exc:
                raise CLIError(f"env FORWARDED_ALLOW_IPS: {str(exc).removeprefix('forwarded_allow_ips: ')}") from None
        if args.reload:
            from . import reload

            server._configure_logging(args.log_level)
            try:
                return reload.run(vars(args), args.reload_dir, args.reload_include, args.reload_exclude,
                                  args.timeout_graceful_shutdown)
            except reload.ReloadError as exc:
                raise CLIError(str(exc)) from None
    except CLIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.status
    return serve(vars(args))


def serve(options: dict) -> int:
    """Import the app named in ``options`` (the parsed ``run`` options) and serve it; the exit
    status. Errors are one line on stderr (see the module docstring)."""
    try:
        app = load_app(options["app"])
        app.run(host=options["host"], port=options["port"], workers=options["workers"],
                log_level=options["log_level"], loop=options["loop"], broker=options["broker"],
                max_restarts_per_minute=options["max_restarts_per_minute"],
                proxy_headers=options["proxy_headers"], forwarded_allow_ips=options["forwarded_allow_ips"],
                access_log=options["access_log"], timeout_keep_alive=options["timeout_keep_alive"],
                limit_concurrency=options["limit_concurrency"],
                timeout_graceful_shutdown=options["timeout_graceful_shutdown"],
                ssl_certfile=options["ssl_certfile"], ssl_keyfile=options["ssl_keyfile"],
                ssl_keyfile_password=options["ssl_keyfile_password"], ssl_ca_certs=options["ssl_ca_certs"],
                ssl_cert_reqs=options["ssl_cert_reqs"], ssl_ciphers=options["ssl_ciphers"], uds=options["uds"],
                fd=options["fd"])
    except CLIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.status
    except (server.ListenError, BrokerError, TLSConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the app's own code failed (e.g. a startup hook)
        # Not a command-line mistake: the traceback points into the app, so it is logged.
        logging.getLogger("fasterapi").error("the app failed while serving", exc_info=exc)
        print(f"error: the app failed: {type(exc).__name__}: {exc} (traceback above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
