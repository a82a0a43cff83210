// fasterapi-loadgen: native load generator for WebSocket, SSE and HTTP/1.1
// servers. One epoll loop per thread, non-blocking sockets, batched writes,
// latencies in an HDR-style histogram. The CLI (tools/loadgen.cpp) and the
// Python binding (fasterapi._core.loadgen.run) share this entry point.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace fasterapi::loadgen {

// Bad command line: the message says what is wrong (the CLI exits 2 with it).
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Runs one load test described by CLI-style args, mode first
// ({"ws-echo", "--url", "ws://127.0.0.1:9001/", "--duration", "2"}), and returns the
// JSON report (also written to --json-out when given). Blocks for the run's
// duration. Throws UsageError for bad arguments and std::runtime_error when the run
// cannot start at all (e.g. the host does not resolve).
std::string run_loadgen(const std::vector<std::string>& args);

// Ends the current run(s) early, as if --duration had elapsed: the report covers
// the time actually measured. Async-signal-safe (the CLI calls it on SIGINT/SIGTERM)
// and callable from any thread. A run that starts afterwards is not affected.
void request_stop() noexcept;

// The --help text.
std::string usage();

}  // namespace fasterapi::loadgen
