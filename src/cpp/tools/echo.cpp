// fasterapi-echo: the native reference server (no Python in the path), built on
// the same net::Server the framework uses. It is the conformance suite's second
// target and the benchmarks' "core limit".
//   WebSocket: echo on any path (compression offered, 16 MiB messages);
//              /broadcast relays every message to all /broadcast connections.
//   HTTP:      /plaintext, /json; SSE: /sse streams CLOCK_MONOTONIC timestamps.
#include <signal.h>
#include <sys/epoll.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_set>

#include "net/server.h"
#include "sse/encoder.h"

using namespace fasterapi;

namespace {
volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

uint64_t mono_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

struct Echo : net::Callbacks {
    net::Server* srv = nullptr;
    int ws_route = 0, sse_route = 0;
    std::unordered_set<uint64_t> broadcast, echo_conns, sse_conns;

    void on_request(uint64_t conn, const http::Request& req, std::string_view, std::string_view) override {
        if (req.upgrade_websocket) {
            auto info = srv->ws_prepare(conn, ws_route);
            if (info.status != 101) return;
            srv->ws_accept(conn, info.subprotocol, {});
            if (req.path == "/broadcast") {
                broadcast.insert(conn);
                srv->subscribe(conn, "broadcast");
            }
            return;
        }
        if (req.path == "/plaintext") {
            srv->respond(conn, 200, {{"Content-Type", "text/plain"}}, "Hello, World!", req.method == "HEAD");
        } else if (req.path == "/json") {
            srv->respond(conn, 200, {{"Content-Type", "application/json"}}, R"({"message":"Hello, World!"})",
                         req.method == "HEAD");
        } else if (req.path == "/sse") {
            srv->sse_start(conn, sse_route, {});
            srv->subscribe(conn, "sse");
            sse_conns.insert(conn);
        } else if (req.path == "/") {
            srv->respond(conn, 200, {{"Content-Type", "text/plain"}}, "fasterapi-echo", req.method == "HEAD");
        } else {
            srv->respond(conn, 404, {{"Content-Type", "text/plain"}}, "Not Found", req.method == "HEAD");
        }
    }
    void on_ws_message(uint64_t conn, bool text, std::string_view payload) override {
        if (broadcast.count(conn)) {
            srv->publish("broadcast", payload, text);
        } else {
            srv->ws_send(conn, payload, text);
        }
    }
    void on_close(uint64_t conn, uint16_t, std::string_view) override {
        srv->ws_finish_fail(conn);  // echoes were written synchronously: fail now
        broadcast.erase(conn);
        sse_conns.erase(conn);
    }
    void on_drain(uint64_t) override {}
};

void usage() {
    std::fprintf(stderr,
                 "usage: fasterapi-echo [--host 127.0.0.1] [--port 9002] [--no-compression]\n"
                 "                      [--ssl-certfile PEM --ssl-keyfile PEM]\n"
                 "                      [--max-message-size BYTES] [--sse-batch N]\n");
}
}  // namespace

int main(int argc, char** argv) {
    net::ServerConfig cfg;
    cfg.port = 9002;
    net::WsRouteOptions wo;
    wo.compression = true;
    wo.deflate.enabled = true;
    wo.max_message_size = 16u << 20;
    wo.ping_interval_ms = 0;  // autobahn and benchmarks measure the protocol, not keep-alive
    int sse_batch = 32;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> const char* {
            if (i + 1 >= argc) {
                usage();
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--host") cfg.host = next();
        else if (a == "--ssl-certfile") cfg.tls.certfile = next();
        else if (a == "--ssl-keyfile") cfg.tls.keyfile = next();
        else if (a == "--port") cfg.port = std::atoi(next());
        else if (a == "--no-compression") wo.compression = wo.deflate.enabled = false;
        else if (a == "--max-message-size") wo.max_message_size = std::strtoull(next(), nullptr, 10);
        else if (a == "--sse-batch") sse_batch = std::atoi(next());
        else if (a == "-h" || a == "--help") { usage(); return 0; }
        else { std::fprintf(stderr, "unknown option %s\n", a.c_str()); usage(); return 2; }
    }
    cfg.max_connections = 100000;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    Echo app;
    net::Server srv(cfg, &app);
    app.srv = &srv;
    app.ws_route = srv.add_ws_route(wo);
    net::SseRouteOptions so;
    so.slow_policy = net::SlowPolicy::Drop;
    so.max_backlog = 256u << 10;
    app.sse_route = srv.add_sse_route(so);
    try {
        srv.listen();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fasterapi-echo: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "fasterapi-echo listening on %s:%d\n", cfg.host.c_str(), srv.listen_port());

    int ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    epoll_ctl(ep, EPOLL_CTL_ADD, srv.fd(), &ev);
    bool stopping = false;
    uint64_t stop_deadline = 0;
    std::string event;
    while (true) {
        if (g_stop && !stopping) {
            stopping = true;
            srv.begin_shutdown();
            stop_deadline = mono_ns() + 3000000000ull;
        }
        if (stopping && (srv.connection_count() == 0 || mono_ns() > stop_deadline)) break;
        bool streaming = !app.sse_conns.empty() && !stopping;
        epoll_event out{};
        epoll_wait(ep, &out, 1, streaming ? 0 : 200);
        srv.poll();
        if (streaming) {
            // Events as fast as the subscribers take them; the route's drop policy bounds memory.
            for (int i = 0; i < sse_batch; ++i) {
                event.clear();
                sse::Event e;
                std::string data = std::to_string(mono_ns());
                e.data = data;
                sse::encode(e, event);
                srv.publish("sse", data, true, event);
            }
        }
    }
    return 0;
}
