"""TLS settings for the native server (https:// and wss://), named as uvicorn names them.

The handshake and record layer run natively (OpenSSL libssl, non-blocking, inside the
epoll loop); this module only gathers and checks the settings. TLS 1.2 and 1.3 only,
ALPN ``http/1.1``, session resumption (tickets and a session cache) on, renegotiation off.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field

from . import _core

__all__ = ["TLSConfig", "TLSConfigError"]


class TLSConfigError(ValueError):
    """A TLS file or option is unusable. ``str(exc)`` is one line naming the file or option
    and what to change (missing file, not PEM, wrong password, key does not match)."""


@dataclass(frozen=True)
class TLSConfig:
    """``certfile``: PEM certificate chain, leaf first (required). ``keyfile``: PEM private key
    (None: the key is in ``certfile``). ``keyfile_password``: for an encrypted key.
    ``ca_certs``: PEM bundle that verifies client certificates. ``ciphers``: OpenSSL cipher
    list for TLS 1.2 (None: OpenSSL's default, which excludes weak ciphers; TLS 1.3 suites
    are OpenSSL's). ``cert_reqs``: ``ssl.CERT_NONE`` (0, default), ``ssl.CERT_OPTIONAL`` (1)
    or ``ssl.CERT_REQUIRED`` (2) for client certificates (mutual TLS; needs ``ca_certs``)."""

    certfile: str
    keyfile: str | None = None
    keyfile_password: str | None = None
    ca_certs: str | None = None
    ciphers: str | None = None
    cert_reqs: int = ssl.CERT_NONE
    # Shared by every worker forked from this process, so a session ticket issued by one
    # worker resumes on any other (SO_REUSEPORT spreads reconnects over workers).
    ticket_key: bytes = field(default_factory=lambda: os.urandom(80), repr=False)

    def _files(self) -> dict[str, object]:
        return dict(ssl_certfile=os.fspath(self.certfile), ssl_keyfile=os.fspath(self.keyfile or ""),
                    ssl_keyfile_password=self.keyfile_password or "", ssl_ca_certs=os.fspath(self.ca_certs or ""),
                    ssl_ciphers=self.ciphers or "", ssl_cert_reqs=int(self.cert_reqs))

    def check(self) -> None:
        """Load everything as the server will, once, before listening or forking.
        Raises TLSConfigError."""
        try:
            _core.check_tls(**self._files())
        except ValueError as exc:
            raise TLSConfigError(str(exc)) from None

    def server_kwargs(self) -> dict[str, object]:
        """Keyword arguments for ``_core.Server``."""
        return {**self._files(), "ssl_ticket_key": self.ticket_key}


def tls_config(ssl_certfile: str | None, ssl_keyfile: str | None = None, ssl_keyfile_password: str | None = None,
               ssl_ca_certs: str | None = None, ssl_ciphers: str | None = None,
               ssl_cert_reqs: int = ssl.CERT_NONE) -> TLSConfig | None:
    """A TLSConfig from uvicorn-style ``ssl_*`` arguments; None when TLS is off.
    Raises TLSConfigError when an option is given without ``ssl_certfile``."""
    if not ssl_certfile:
        given = [n for n, v in (("ssl_keyfile", ssl_keyfile), ("ssl_keyfile_password", ssl_keyfile_password),
                                ("ssl_ca_certs", ssl_ca_certs), ("ssl_ciphers", ssl_ciphers)) if v]
        if ssl_cert_reqs:
            given.append("ssl_cert_reqs")
        if given:
            raise TLSConfigError(f"{', '.join(given)} given without ssl_certfile: TLS needs the server certificate")
        return None
    return TLSConfig(ssl_certfile, ssl_keyfile, ssl_keyfile_password, ssl_ca_certs, ssl_ciphers, ssl_cert_reqs)
