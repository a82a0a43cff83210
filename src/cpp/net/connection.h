// Per-connection state shared by the server's files (not part of the public API).
#pragma once
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "http/body.h"
#include "net/server.h"
#include "ws/deflate.h"
#include "ws/handshake.h"
#include "ws/receiver.h"

namespace fasterapi::net {

constexpr uint32_t kTickMs = 250;
constexpr uint32_t kTlsBusyIo = 8;  // TLS reads + writes per tick that make a session "busy"
constexpr size_t kReadChunk = 256u << 10;
constexpr uint64_t kTimerTag = 1;  // epoll data for the timer fd (connections use pointers)
constexpr uint64_t kListenTag = 2;
constexpr uint64_t kWakeTag = 3;   // eventfd: corked output waits for the next poll()

inline uint64_t monotonic_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1000000u;
}

struct WsHandler;

struct WsState {
    int route = 0;
    ws::Receiver<WsHandler> rx;
    std::unique_ptr<ws::Inflater> inflater;
    std::unique_ptr<ws::Deflater> deflater;
    ws::HandshakeResult hs;  // kept from ws_prepare until ws_accept
    ws::DeflateParams params{};
    bool deflate = false;
    bool close_sent = false;
    bool close_received = false;
    bool ping_outstanding = false;
    bool pong_pending = false;   // a pong waits for the output to drain (only the latest ping's)
    bool failing = false;        // protocol error seen; close frame waits for ws_finish_fail()
    uint16_t fail_code = 0;
    std::string fail_reason;
    uint64_t last_recv_ms = 0;
    uint64_t ping_sent_ms = 0;
    std::string pong_payload;    // of the most recent unanswered ping (<= 125 bytes)

    WsState(int r, ws::ReceiverConfig rc) : route(r), rx(rc, nullptr) {}
};

struct Connection {
    uint64_t id = 0;
    int fd = -1;
    ConnKind kind = ConnKind::Http;
    bool closed = false;
    bool close_after_flush = false;
    bool lingering = false;       // our side shut down; draining the peer until EOF
    bool in_dispatch = false;     // inside process_input (no re-entry)
    bool awaiting_response = false;
    bool keep_alive = true;
    bool upgrade_request = false;
    bool head_request = false;
    bool notify_close = false;    // Python holds this connection: it gets on_close
    bool drain_wanted = false;
    bool sse_chunked = true;
    bool body_active = false;
    bool continue_sent = false;
    bool http11 = true;
    bool read_paused = false;     // output above send_high_water: EPOLLIN off until below low water
    bool tls_want_write = false;  // a TLS read (handshake) needs the socket writable first
    bool corked = false;          // holds published output until the end of this loop iteration
    bool read_deferred = false;   // TLS bytes read ahead wait for the next poll() round
    bool tls_hold = false;        // busy TLS session: keeps its record buffers between records
    uint32_t tls_io = 0;          // TLS reads + writes since the last timer tick
    uint32_t events = 0;
    int sse_route = -1;
    size_t head_len = 0;          // of the request whose body is being read
    size_t body_fed = 0;          // body bytes (after head_len) already fed to `body`
    uint64_t deadline_ms = 0;     // request/keep-alive/close timeout (0 none)
    uint64_t last_send_ms = 0;
    std::string in;               // leftover input only
    std::string out;              // unsent output
    size_t out_off = 0;
    std::string body_buf;
    http::BodyReader body;
    std::string peer;
    SSL* ssl = nullptr;           // TLS session (owned; freed by close_conn), nullptr for plain TCP
    std::unique_ptr<WsState> ws;
    std::unique_ptr<std::vector<std::string>> topics;

    size_t buffered() const noexcept { return out.size() - out_off; }
};

// Receiver callbacks for one connection (compile-time dispatch).

}  // namespace fasterapi::net
