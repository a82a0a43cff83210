"""permessage-deflate (RFC 7692): native Deflater/Inflater against Python's zlib and
the websockets library, the decompression-bomb limit, and negotiation interop."""

import os
import subprocess
import sys
import textwrap
import zlib

import pytest

from fasterapi._core import deflate

from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
)
from websockets.frames import Frame, Opcode

OP_BINARY = Opcode.BINARY
from websockets.headers import build_extension, parse_extension

TAIL = b"\x00\x00\xff\xff"


def messages():
    """A mix that exercises context takeover: repeats, text, noise, empty."""
    rnd = bytes((i * 7919 + 13) % 251 for i in range(3000))
    return [
        b"Hello",
        b"Hello",
        b"",
        b"the quick brown fox jumps over the lazy dog " * 50,
        rnd,
        rnd,
        bytes(100_000),
        b"x",
        os.urandom(5000),
    ]


# --- Deflater -> Python zlib ---------------------------------------------------------


@pytest.mark.parametrize("wbits", [9, 10, 12, 15])
@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_our_deflater_inflates_with_python_zlib(wbits, no_context_takeover):
    ours = deflate.Deflater(window_bits=wbits, no_context_takeover=no_context_takeover)
    theirs = zlib.decompressobj(-wbits)
    for msg in messages():
        payload = ours.compress(msg)
        assert not payload.endswith(TAIL) or msg == b""  # tail stripped (RFC 7692 7.2.1)
        if no_context_takeover:
            theirs = zlib.decompressobj(-wbits)
        assert theirs.decompress(payload + TAIL) == msg


def test_context_takeover_really_shares_the_window():
    msg = os.urandom(2000)
    ours = deflate.Deflater()
    first, second = ours.compress(msg), ours.compress(msg)
    assert len(second) < len(first) // 4
    # A fresh decompressor cannot decode the second message alone.
    with pytest.raises(zlib.error):
        zlib.decompressobj(-15).decompress(second + TAIL)


def test_no_context_takeover_messages_stand_alone():
    msg = os.urandom(2000)
    ours = deflate.Deflater(no_context_takeover=True)
    first, second = ours.compress(msg), ours.compress(msg)
    assert first == second
    assert zlib.decompressobj(-15).decompress(second + TAIL) == msg


# --- Python zlib -> Inflater -----------------------------------------------------------


def python_compress(comp, msg):
    data = comp.compress(msg) + comp.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(TAIL)
    return data[:-4]


@pytest.mark.parametrize("wbits", [9, 11, 15])
@pytest.mark.parametrize("level", [1, 6, 9])
def test_python_zlib_inflates_with_our_inflater_takeover(wbits, level):
    comp = zlib.compressobj(level, zlib.DEFLATED, -wbits)
    ours = deflate.Inflater(window_bits=wbits)
    for msg in messages():
        assert ours.inflate(python_compress(comp, msg), 1 << 24) == msg


@pytest.mark.parametrize("wbits", [9, 15])
def test_python_zlib_inflates_with_our_inflater_no_takeover(wbits):
    ours = deflate.Inflater(window_bits=wbits, no_context_takeover=True)
    for msg in messages():
        comp = zlib.compressobj(6, zlib.DEFLATED, -wbits)
        assert ours.inflate(python_compress(comp, msg), 1 << 24) == msg


def test_takeover_stream_fails_on_a_no_takeover_inflater():
    msg = os.urandom(1000)
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    ours = deflate.Inflater(no_context_takeover=True)
    assert ours.inflate(python_compress(comp, msg), 1 << 20) == msg
    with pytest.raises(ValueError, match="corrupt deflate data"):
        ours.inflate(python_compress(comp, msg), 1 << 20)


def test_python_final_block_message():
    """RFC 7692 7.2.3.4: a sender may end a message with a BFINAL block."""
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    payload = comp.compress(b"Hello") + comp.flush(zlib.Z_FINISH) + b"\x00"
    ours = deflate.Inflater()
    assert ours.inflate(payload, 100) == b"Hello"
    assert ours.inflate(python_compress(zlib.compressobj(1, zlib.DEFLATED, -15), b"again"), 100) == b"again"


# --- websockets' own PerMessageDeflate ----------------------------------------------


@pytest.mark.parametrize("nct", [False, True])
@pytest.mark.parametrize("wbits", [9, 15])
def test_interop_with_websockets_extension(nct, wbits):
    # Their side as the client: remote = us (server), local = them.
    theirs = PerMessageDeflate(nct, nct, wbits, wbits)
    our_deflater = deflate.Deflater(window_bits=wbits, no_context_takeover=nct)
    our_inflater = deflate.Inflater(window_bits=wbits, no_context_takeover=nct)
    for msg in messages():
        frame = Frame(OP_BINARY, our_deflater.compress(msg), rsv1=True)
        assert theirs.decode(frame, max_size=None).data == msg
        sent = theirs.encode(Frame(OP_BINARY, msg))
        assert sent.rsv1
        assert our_inflater.inflate(bytes(sent.data), 1 << 24) == msg


# --- limits and errors ----------------------------------------------------------------


def test_too_large_exact_boundary():
    msg = b"abc" * 10_000
    payload = deflate.Deflater().compress(msg)
    assert deflate.Inflater().inflate(payload, len(msg)) == msg
    with pytest.raises(ValueError, match="message too large"):
        deflate.Inflater().inflate(payload, len(msg) - 1)


def test_corrupt_data():
    with pytest.raises(ValueError, match="corrupt deflate data"):
        deflate.Inflater().inflate(b"\xff\xff\xff\xff", 100)
    inflater = deflate.Inflater()
    with pytest.raises(ValueError, match="corrupt deflate data"):
        inflater.inflate(b"\xf2\x00\x11\x00\x00", 100)  # refers to an empty window
    assert inflater.inflate(b"\xf2\x48\xcd\xc9\xc9\x07\x00", 100) == b"Hello"  # usable again


def test_invalid_parameters():
    with pytest.raises(ValueError):
        deflate.Deflater(window_bits=16)
    with pytest.raises(ValueError):
        deflate.Inflater(window_bits=7)
    with pytest.raises(ValueError):
        deflate.Deflater(mem_level=0)
    with pytest.raises(ValueError):
        deflate.negotiate("permessage-deflate", server_max_window_bits=20)


BOMB_SCRIPT = textwrap.dedent(
    """
    import sys, zlib
    from fasterapi._core import deflate

    def peak_rss_kib():
        # VmHWM belongs to this process image (ru_maxrss would inherit the parent's peak).
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        raise AssertionError("no VmHWM")

    # 10 MiB of zeros compressed without ever holding 10 MiB in Python.
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(64 * 1024)
    parts = [comp.compress(chunk) for _ in range(160)]
    bomb = b"".join(parts) + comp.flush(zlib.Z_SYNC_FLUSH)[:-4]
    assert len(bomb) < 64 * 1024, len(bomb)
    del parts, chunk

    inflater = deflate.Inflater()
    inflater.inflate(b"\\xf2\\x48\\xcd\\xc9\\xc9\\x07\\x00", 100)  # warm up zlib state
    before = peak_rss_kib()
    try:
        inflater.inflate(bomb, 1 << 20)
    except ValueError as e:
        assert str(e) == "message too large", e
    else:
        raise AssertionError("bomb was not stopped")
    after = peak_rss_kib()
    mode = sys.argv[1]
    if mode == "control":  # prove the measurement can see a 10 MiB inflation
        out = zlib.decompressobj(-15).decompress(bomb + b"\\x00\\x00\\xff\\xff")
        assert len(out) == 10 << 20
        after = peak_rss_kib()
    print(after - before)
    """
)


def run_bomb(mode):
    import fasterapi

    env = dict(os.environ)
    # The child runs from / so the repo's ./fasterapi cannot shadow the built package.
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(fasterapi.__file__)))
    out = subprocess.run(
        [sys.executable, "-c", BOMB_SCRIPT, mode],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=100,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


def test_bomb_is_stopped_without_growing_memory():
    grown_kib = run_bomb("ours")
    assert grown_kib < 4 * 1024, f"peak RSS grew by {grown_kib} KiB"
    # Control: the same measurement sees a full 10 MiB inflation.
    assert run_bomb("control") >= 9 * 1024


# --- negotiation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, accepted, response",
    [
        ("permessage-deflate", True, "permessage-deflate"),
        ("permessage-deflate; client_max_window_bits", True, "permessage-deflate"),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            True,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        ),
        (
            "permessage-deflate; client_max_window_bits; server_max_window_bits=9",
            True,
            "permessage-deflate; server_max_window_bits=9",
        ),
        ("permessage-deflate; server_max_window_bits=8", False, ""),
        ("permessage-deflate; server_max_window_bits=08", False, ""),
        ("permessage-deflate; bogus", False, ""),
        ("permessage-deflate; bogus, permessage-deflate", True, "permessage-deflate"),
        ("x-webkit-deflate-frame", False, ""),
        ("permessage-deflate;", False, ""),
    ],
)
def test_negotiate_table(header, accepted, response):
    ok, resp, params = deflate.negotiate(header)
    assert (ok, resp) == (accepted, response)
    assert set(params) == {
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    }


def test_negotiate_options():
    ok, resp, params = deflate.negotiate(
        "permessage-deflate; client_max_window_bits",
        server_max_window_bits=11,
        client_max_window_bits=10,
        server_no_context_takeover=True,
    )
    assert ok
    assert resp == (
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=11; client_max_window_bits=10"
    )
    assert params == {
        "server_no_context_takeover": True,
        "client_no_context_takeover": False,
        "server_max_window_bits": 11,
        "client_max_window_bits": 10,
    }
    assert deflate.negotiate("permessage-deflate", enabled=False) == (
        False,
        "",
        {
            "server_no_context_takeover": False,
            "client_no_context_takeover": False,
            "server_max_window_bits": 15,
            "client_max_window_bits": 15,
        },
    )


@pytest.mark.parametrize(
    "factory_kwargs",
    [
        {},
        {"client_max_window_bits": None},
        {"server_no_context_takeover": True, "client_no_context_takeover": True},
        {"server_max_window_bits": 9},
        {"server_max_window_bits": 12, "client_max_window_bits": 10},
        {"client_max_window_bits": 9, "server_no_context_takeover": True},
    ],
)
@pytest.mark.parametrize("server_opts", [{}, {"server_max_window_bits": 10, "client_max_window_bits": 11}])
def test_websockets_client_accepts_our_answer(factory_kwargs, server_opts):
    """The websockets client's own offer -> our response -> its validation, then a real
    exchange with the agreed parameters in both directions."""
    factory = ClientPerMessageDeflateFactory(**factory_kwargs)
    offer = build_extension([(factory.name, factory.get_request_params())])
    ok, response, params = deflate.negotiate(offer, **server_opts)
    assert ok, offer
    name, resp_params = parse_extension(response)[0]
    assert name == "permessage-deflate"
    client_ext = factory.process_response_params(list(resp_params), [])  # raises NegotiationError if our answer broke RFC 7692 for this offer
    assert client_ext.remote_max_window_bits == params["server_max_window_bits"]
    assert client_ext.remote_no_context_takeover == params["server_no_context_takeover"]

    our_deflater = deflate.Deflater(
        window_bits=params["server_max_window_bits"], no_context_takeover=params["server_no_context_takeover"]
    )
    our_inflater = deflate.Inflater(
        window_bits=params["client_max_window_bits"], no_context_takeover=params["client_no_context_takeover"]
    )
    for msg in messages():
        frame = Frame(OP_BINARY, our_deflater.compress(msg), rsv1=True)
        assert client_ext.decode(frame, max_size=None).data == msg
        assert our_inflater.inflate(bytes(client_ext.encode(Frame(OP_BINARY, msg)).data), 1 << 24) == msg
