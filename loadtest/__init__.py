"""FasterAPI benchmark harness: peers, scenarios, runner, HTML report, Locust scenarios and the throughput gate.

Entry points: ``python -m loadtest.bench``, ``python -m loadtest.gate``, ``python -m loadtest.locust_run``.
Throughput comes from the native generator ``fasterapi-loadgen`` (see docs/benchmarks.md).
"""
