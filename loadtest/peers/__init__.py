"""Peer servers measured side by side with FasterAPI.

Each module is a script run as ``python -m loadtest.peers.<name> --host H --port P``
implementing the scenario endpoints it supports:

- ``/`` (any other path too): WebSocket echo (text stays text, binary stays binary),
- ``/broadcast``: every message relayed to all connections on that path,
- ``/sse``: an event stream whose data starts with ``str(time.monotonic_ns())``,
  as fast as the server yields,
- ``/plaintext``: ``Hello, World!``; ``/json``: ``{"message":"Hello, World!"}``.
"""
