"""FasterAPI conformance harness: Autobahn fuzzingclient pipeline and gate,
HTTP/1.1 and SSE edge-case suites, combined report. Run ``python -m conformance``."""
