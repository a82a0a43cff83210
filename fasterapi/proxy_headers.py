"""Who the client is behind a reverse proxy: ``X-Forwarded-For`` / ``X-Forwarded-Proto``
and RFC 7239 ``Forwarded``, believed only when the direct peer is a trusted proxy.

The trust rule (as uvicorn's ProxyHeadersMiddleware): the headers are read only when the
TCP peer is in ``forwarded_allow_ips``; then the client is the rightmost hop that is *not*
trusted (each proxy appends the address it received from, so everything right of the first
untrusted hop was written by proxies we trust, and everything left of it may be forged).
When every hop is trusted the leftmost one is the client. From an untrusted peer the
headers are ignored and the peer is the client.

Which header: ``X-Forwarded-For``/``X-Forwarded-Proto`` when either is present (what
nginx, HAProxy, Envoy and the cloud balancers send), else ``Forwarded``. A proxy must set
or strip the one it uses, or a client can write it. A ``Forwarded`` header that does not
parse is ignored as a whole (the peer stays the client), never half-believed.
"""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Iterable, NamedTuple

#: Default of ``forwarded_allow_ips`` when neither the option nor env FORWARDED_ALLOW_IPS is set.
DEFAULT_ALLOW_IPS = "127.0.0.1"
_SCHEMES = frozenset(("http", "https", "ws", "wss"))
_CACHE_MAX = 4096


class Address(NamedTuple):
    """A client address: ``host`` (IP text, or an RFC 7239 name such as ``"unknown"``) and
    ``port`` (0 when the proxy did not say)."""

    host: str
    port: int


def split_peer(peer: str) -> Address:
    """The native peer text ``"1.2.3.4:5678"`` / ``"::1:5678"`` (IPv6 without brackets) ->
    Address. Text without a numeric port (e.g. a Unix socket) is a host with port 0."""
    host, sep, port = peer.rpartition(":")
    if sep and port.isdigit():
        return Address(host, int(port))
    return Address(peer, 0)


def format_address(addr: Address) -> str:
    """``host:port``, IPv6 in brackets (``[::1]:80``), for log lines."""
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class TrustedHosts:
    """The proxies whose forwarding headers are believed: ``"*"`` (every peer), or a comma
    list (or iterable) of IP addresses and CIDR networks, e.g. ``"127.0.0.1,10.0.0.0/8,::1"``.
    Raises ValueError (one line, naming the entry) for anything else."""

    __slots__ = ("spec", "always", "_addrs", "_nets", "_cache")

    def __init__(self, spec: str | Iterable[str]) -> None:
        items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec)]
        items = [s for s in items if s]
        self.spec = ",".join(items)
        self.always = "*" in items
        self._addrs: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
        self._nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self._cache: dict[str, bool] = {}
        for item in items:
            if item == "*":
                continue
            try:
                if "/" in item:
                    self._nets.append(ipaddress.ip_network(item, strict=False))
                else:
                    self._addrs.add(ipaddress.ip_address(item))
            except ValueError:
                raise ValueError(f"forwarded_allow_ips: {item!r} is not an IP address or network "
                                 "(e.g. 127.0.0.1, 10.0.0.0/8, ::1; '*' trusts every peer)") from None

    def __contains__(self, host: str) -> bool:
        if self.always:
            return True
        hit = self._cache.get(host)
        if hit is None:
            hit = self._compute(host)
            if len(self._cache) >= _CACHE_MAX:  # bounded: forwarded hosts are client-chosen text
                self._cache.clear()
            self._cache[host] = hit
        return hit

    def _compute(self, host: str) -> bool:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False  # "unknown", obfuscated names, garbage: never a trusted proxy
        mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:10.0.0.1 from a dual-stack listener
        return any(a in self._addrs or any(a in n for n in self._nets) for a in (ip, mapped) if a is not None)

    def __repr__(self) -> str:
        return f"TrustedHosts({'*' if self.always else self.spec!r})"


def trusted_hosts_from(spec: str | None) -> TrustedHosts:
    """``spec``, else env FORWARDED_ALLOW_IPS, else ``DEFAULT_ALLOW_IPS``. ValueError if malformed."""
    if spec is None:
        spec = os.environ.get("FORWARDED_ALLOW_IPS") or DEFAULT_ALLOW_IPS
    return TrustedHosts(spec)


def parse_node(value: str) -> Address:
    """A hop as proxies write it: ``1.2.3.4``, ``1.2.3.4:80``, ``2001:db8::1``, ``[2001:db8::1]:80``,
    ``unknown``, ``_hidden``. A port that is not a number (RFC 7239 obfuscated) is 0."""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return Address(value, 0)
        rest = value[end + 1:]
        port = rest[1:] if rest.startswith(":") else ""
        return Address(value[1:end], int(port) if port.isdigit() else 0)
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return Address(host, int(port) if port.isdigit() else 0)
    return Address(value, 0)


# RFC 7239 §4:  forwarded-pair = token "=" value;  value = token / quoted-string.
# Unquoted values may also hold ":[]" (for=1.2.3.4:80 unquoted): some proxies write it so.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PAIR = re.compile(rf"[ \t]*({_TOKEN})=([!#$%&'*+.^_`|~0-9A-Za-z:\[\]-]+|\"(?:[^\"\\]|\\.)*\")[ \t]*([;,]|$)")
_UNESCAPE = re.compile(r"\\(.)")


def parse_forwarded(value: str) -> list[dict[str, str]] | None:
    """``Forwarded`` field value -> its elements, left to right, each a dict of lower-cased
    parameter -> value (quotes and backslash escapes removed). ``for=a, for=b;proto=https``
    -> ``[{"for": "a"}, {"for": "b", "proto": "https"}]``. None when it does not parse."""
    elements: list[dict[str, str]] = []
    current: dict[str, str] = {}
    pos, end = 0, len(value)
    while pos < end:
        m = _PAIR.match(value, pos)
        if m is None:
            # RFC 7239 allows empty elements/pairs (", ,"); anything else is malformed.
            stripped = value[pos:].lstrip(" \t")
            if stripped[:1] in (",", ";"):
                if stripped[0] == "," and current:
                    elements.append(current)
                    current = {}
                pos = end - len(stripped) + 1
                continue
            if not stripped:
                break
            return None
        name, raw, sep = m.group(1).lower(), m.group(2), m.group(3)
        if raw.startswith('"'):
            raw = _UNESCAPE.sub(r"\1", raw[1:-1])
        if name in current:
            return None  # RFC 7239 §4: a parameter occurs at most once per element
        current[name] = raw
        pos = m.end()
        if sep == ",":
            elements.append(current)
            current = {}
    if current:
        elements.append(current)
    return elements


class ProxyHeaders:
    """Resolves (client, scheme) of one request or WebSocket. ``trusted`` None turns proxy
    headers off. ``default_scheme`` is the listener's: "http", or "https" when it terminates
    TLS (WebSockets get "ws"/"wss")."""

    __slots__ = ("trusted", "default_scheme")

    def __init__(self, trusted: TrustedHosts | None, default_scheme: str = "http") -> None:
        if default_scheme not in ("http", "https"):
            raise ValueError(f"default_scheme must be 'http' or 'https', not {default_scheme!r}")
        self.trusted = trusted
        self.default_scheme = default_scheme

    def resolve(self, peer: str, headers: list[tuple[str, str]], websocket: bool = False) -> tuple[Address, str]:
        client = split_peer(peer)
        scheme = self.default_scheme
        trusted = self.trusted
        if trusted is not None and client.host in trusted:
            client, scheme = self._from_headers(trusted, client, scheme, headers)
        if websocket:
            scheme = "wss" if scheme in ("https", "wss") else "ws"
        elif scheme in ("ws", "wss"):
            scheme = "https" if scheme == "wss" else "http"
        return client, scheme

    @staticmethod
    def _from_headers(trusted: TrustedHosts, client: Address, scheme: str,
                      headers: list[tuple[str, str]]) -> tuple[Address, str]:
        xff: list[str] = []
        xfp: str | None = None
        fwd: list[str] = []
        for name, value in headers:
            low = name.lower()
            if low == "x-forwarded-for":
                xff.append(value)
            elif low == "x-forwarded-proto":
                xfp = value
            elif low == "forwarded":
                fwd.append(value)
        if xff or xfp is not None:
            if xfp is not None and xfp.strip().lower() in _SCHEMES:
                scheme = xfp.strip().lower()
            if xff:
                hops = [parse_node(h.strip()) for h in ",".join(xff).split(",")]
                hop = hops[_client_index(hops, trusted)]
                if hop.host:  # an empty header names nobody: keep the peer
                    client = hop
            return client, scheme
        if fwd:
            elements = parse_forwarded(", ".join(fwd))
            if elements:
                # A hop without for= is one the proxy would not name: RFC 7239's "unknown".
                hops = [parse_node(e.get("for", "unknown")) for e in elements]
                i = _client_index(hops, trusted)
                if hops[i].host:
                    client = hops[i]
                    # proto= is written by the proxy that received from that client.
                    proto = elements[i].get("proto", "").lower()
                    if proto in _SCHEMES:
                        scheme = proto
        return client, scheme


def _client_index(hops: list[Address], trusted: TrustedHosts) -> int:
    """Index of the rightmost hop not in ``trusted``; 0 (the leftmost) when all are, i.e. the
    client is itself a trusted proxy. ``hops`` is not empty."""
    if not trusted.always:
        for i in range(len(hops) - 1, -1, -1):
            if hops[i].host not in trusted:
                return i
    return 0
