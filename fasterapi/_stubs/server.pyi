class Server:
    """Native HTTP/1.1 + WebSocket + SSE server (drive poll() when fileno() is readable)."""

    def __init__(
        self,
        on_request: Callable[[int, str, str, str, list[tuple[str, str]], bytes, str, bool, int], object],
        on_ws_message: Callable[[int, str | bytes], object],
        on_close: Callable[[int, int, str], object],
        on_drain: Callable[[int], object],
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        backlog: int = 1024,
        reuse_port: bool = False,
        max_connections: int = 10000,
        max_request_line: int = 8192,
        max_header_bytes: int = 16384,
        max_headers: int = 100,
        max_body_size: int = 1048576,
        request_timeout: float = 10.0,
        keepalive_timeout: float = 5.0,
        send_high_water: int = 1048576,
        send_low_water: int = 262144,
        max_send_buffer: int = 67108864,
        close_timeout: float = 3.0,
        ssl_certfile: str = "",
        ssl_keyfile: str = "",
        ssl_keyfile_password: str = "",
        ssl_ca_certs: str = "",
        ssl_ciphers: str = "",
        ssl_cert_reqs: int = 0,
        ssl_ticket_key: bytes = b"",
        fd: int = -1,
    ) -> None: ...
    def listen(self) -> int:
        """Load the TLS files (ValueError naming the file), then bind and listen (or adopt fd);
        returns the bound port (0 for a Unix socket)."""
    def reload_tls(
        self,
        ssl_certfile: str,
        ssl_keyfile: str = "",
        ssl_keyfile_password: str = "",
        ssl_ca_certs: str = "",
        ssl_ciphers: str = "",
        ssl_cert_reqs: int = 0,
        ssl_ticket_key: bytes = b"",
    ) -> None:
        """Load the TLS files again (certificate renewal, no restart): connections accepted from
        now on use them, open ones keep theirs. ValueError naming the file at fault (the previous
        files keep serving); RuntimeError if this server does not serve TLS."""
    @property
    def tls(self) -> bool:
        """True once listen() has set up TLS (https/wss)."""
    def fileno(self) -> int: ...
    def poll(self) -> None: ...
    def add_ws_route(
        self,
        *,
        max_message_size: int = 16777216,
        compression: bool = False,
        subprotocols: list[str] = ...,
        allowed_origins: list[str] = ...,
        ping_interval: float = 20.0,
        pong_timeout: float = 20.0,
        idle_timeout: float = 0.0,
        fragment_size: int = 0,
        slow_policy: str = "close",
        max_backlog: int = 4194304,
        window_bits: int = 15,
        client_window_bits: int = 15,
        mem_level: int = 8,
        compression_level: int = 1,
        no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        compress_min_size: int = 0,
    ) -> int: ...
    def add_sse_route(self, *, ping_interval: float = 15.0, slow_policy: str = "drop", max_backlog: int = 4194304) -> int: ...
    def respond(self, conn: int, status: int, headers: Iterable[tuple[str | bytes, str | bytes]] | None, body: bytes, head_only: bool = False) -> bool:
        """Write the response for the pending request. Header str values go out as ISO-8859-1
        (bytes as is; RFC 9110 5.5); ValueError names a header whose value is not Latin-1.
        HEAD (or head_only) sends the same fields and no body."""
    def ws_prepare(self, conn: int, route: int) -> tuple[int, str, str, list[str]]: ...
    def ws_accept(self, conn: int, subprotocol: str = "", headers: Iterable[tuple[str | bytes, str | bytes]] | None = None) -> bool:
        """101 for the prepared upgrade; headers as for respond() (Latin-1, ValueError otherwise)."""
    def ws_reject(self, conn: int, status: int, reason: str) -> bool: ...
    def ws_send(self, conn: int, data: str | bytes | bytearray) -> int: ...
    def ws_close(self, conn: int, code: int = 1000, reason: str = "") -> bool: ...
    def ws_finish_fail(self, conn: int) -> bool: ...
    def ws_ping(self, conn: int, payload: bytes) -> bool: ...
    def sse_start(self, conn: int, route: int, headers: Iterable[tuple[str | bytes, str | bytes]] | None = None) -> bool:
        """Start the event stream (headers as for respond()); for a HEAD request, write GET's
        header fields and no body, and the exchange is complete (RFC 9110 9.3.2)."""
    def sse_send_raw(self, conn: int, encoded: bytes) -> int: ...
    def sse_end(self, conn: int) -> bool: ...
    def subscribe(self, conn: int, topic: str) -> bool: ...
    def unsubscribe(self, conn: int, topic: str) -> bool: ...
    def publish(self, topic: str, data: str | bytes | bytearray, sse_encoded: bytes | None = None) -> int: ...
    def subscribers(self, topic: str) -> int: ...
    def track_topic_changes(self, on: bool) -> None: ...
    def topics_changed(self) -> bool: ...
    def take_topic_changes(self) -> list[str]: ...
    def buffered(self, conn: int) -> int: ...
    def alive(self, conn: int) -> bool: ...
    def close_connection(self, conn: int) -> None: ...
    def begin_shutdown(self) -> None: ...
    def connection_count(self) -> int: ...
    def stats(self) -> dict[str, int]: ...

def encode_sse(
    data: str | None = None,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
    comment: str | None = None,
) -> bytes: ...

def check_tls(
    ssl_certfile: str,
    ssl_keyfile: str = "",
    ssl_keyfile_password: str = "",
    ssl_ca_certs: str = "",
    ssl_ciphers: str = "",
    ssl_cert_reqs: int = 0,
) -> None:
    """Load and check TLS files as the server will; ValueError naming the file or option at fault."""
