// The native server: one epoll set, non-blocking sockets, per-connection
// HTTP/1.1 -> WebSocket | SSE state. Single-threaded and driven from outside:
// the owner registers fd() with its event loop and calls poll() when it is
// readable (asyncio's loop.add_reader), so one call services every ready socket.
//
// Application code is reached through the Callbacks interface, once per complete
// HTTP request, WebSocket message or close; the callee may call back into the
// Server synchronously (send, close, publish...). Connections are named by a
// 64-bit id that is never reused, so a stale id is detected, not misdirected.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "http/parser.h"
#include "http/request.h"
#include "net/tls.h"
#include "ws/deflate.h"

namespace fasterapi::net {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct ServerConfig {
    std::string host = "127.0.0.1";
    int port = 8000;
    int backlog = 1024;
    bool reuse_port = false;             // SO_REUSEPORT for workers=N
    size_t max_connections = 10000;      // accepted beyond this: closed at once (counted)
    http::Limits http_limits{};
    uint32_t request_timeout_ms = 10000;    // a request head / handshake must complete within this
    uint32_t keepalive_timeout_ms = 5000;   // idle keep-alive HTTP connection closes after this
    size_t max_pending_input = 1u << 20;    // bytes buffered while a response is pending
    size_t send_high_water = 1u << 20;      // ws.send() waits above this
    size_t send_low_water = 256u << 10;     // ... until the buffer drains below this
    size_t max_send_buffer = 64u << 20;     // hard cap for one connection (then closed, counted)
    uint32_t close_timeout_ms = 3000;       // wait for the peer's close frame after ours
    TlsConfig tls{};                        // certfile set: every connection speaks TLS (https/wss)
    int fd = -1;                            // >= 0: serve this already-listening socket (inherited,
                                            // e.g. a Unix socket bound by the parent) instead of binding
};

enum class SlowPolicy : uint8_t { Close = 0, Drop = 1 };

struct WsRouteOptions {
    size_t max_message_size = 16u << 20;
    bool compression = false;
    ws::DeflateOptions deflate{};
    std::vector<std::string> subprotocols;
    std::vector<std::string> allowed_origins;  // empty: any Origin
    uint32_t ping_interval_ms = 20000;         // 0 disables automatic pings
    uint32_t pong_timeout_ms = 20000;
    uint32_t idle_timeout_ms = 0;              // 0: none (pings keep the connection honest)
    size_t fragment_size = 0;                  // 0: send each message as one frame
    SlowPolicy slow_policy = SlowPolicy::Close;  // for publish() to a subscriber above max_backlog
    size_t max_backlog = 4u << 20;
};

struct SseRouteOptions {
    uint32_t ping_interval_ms = 15000;  // keep-alive comment; 0 disables
    SlowPolicy slow_policy = SlowPolicy::Drop;
    size_t max_backlog = 4u << 20;
};

enum class ConnKind : uint8_t { Http, WsPending, WebSocket, Sse };

// What the application sees; implemented by the Python bindings.
class Callbacks {
   public:
    virtual ~Callbacks() = default;
    // A complete request (body included). For an upgrade request the callee
    // either calls ws_prepare()+ws_accept()/ws_reject() or respond().
    virtual void on_request(uint64_t conn, const http::Request& req, std::string_view body,
                            std::string_view peer) = 0;
    virtual void on_ws_message(uint64_t conn, bool text, std::string_view payload) = 0;
    // Every accepted WebSocket, SSE stream, or HTTP connection with a request
    // still awaiting its response gets exactly one on_close.
    virtual void on_close(uint64_t conn, uint16_t code, std::string_view reason) = 0;
    virtual void on_drain(uint64_t conn) = 0;
};

struct Stats {
    uint64_t accepted = 0, refused_full = 0, closed = 0, requests = 0, ws_messages_in = 0,
             ws_messages_out = 0, protocol_errors = 0, timeouts = 0, slow_dropped = 0,
             slow_closed = 0, send_overflow = 0, http_errors = 0, tls_errors = 0,
             tls_reloads = 0, tls_reload_failures = 0,  // reload_tls(): done / refused (bad files)
             shared_compressions = 0;  // publish(): frames compressed once for many subscribers
};

struct Connection;

struct HandshakeInfo {
    int status = 0;
    std::string reason;
    std::string subprotocol;  // server's pick from the client's list ("" none)
    std::vector<std::string> offered_subprotocols;
};

class Server {
   public:
    Server(ServerConfig cfg, Callbacks* cb);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // TLS context (std::invalid_argument naming the file at fault), then bind + listen
    // (std::system_error with a clear message), or adopt cfg.fd.
    void listen();
    bool tls() const noexcept { return tls_ != nullptr; }
    // Certificate renewal without a restart: builds a context from `cfg` (the same checks
    // and std::invalid_argument as listen(); the old context keeps serving on failure) and
    // uses it for connections accepted from now on. Open connections keep the context they
    // started with (each SSL holds a reference to its SSL_CTX). std::logic_error without TLS.
    void reload_tls(const TlsConfig& cfg);
    int listen_port() const noexcept { return port_; }
    int fd() const noexcept { return epfd_; }
    // Services every ready socket and expired timer; never blocks.
    void poll();

    int add_ws_route(WsRouteOptions opts);
    int add_sse_route(SseRouteOptions opts);

    // HTTP
    bool respond(uint64_t conn, int status, const HeaderList& headers, std::string_view body,
                 bool head_only = false);
    // WebSocket: validate the pending upgrade request against a route (must be
    // called from inside on_request). On refusal the response is written and the
    // connection closed.
    HandshakeInfo ws_prepare(uint64_t conn, int route);
    bool ws_accept(uint64_t conn, std::string_view subprotocol, const HeaderList& headers);
    bool ws_reject(uint64_t conn, int status, std::string_view reason);
    // Returns bytes buffered after the send, or -1 when the connection is gone.
    long long ws_send(uint64_t conn, std::string_view data, bool text);
    // Above this many buffered bytes, ws.send() makes the handler wait (ServerConfig).
    size_t send_high_water() const noexcept { return cfg_.send_high_water; }
    bool ws_close(uint64_t conn, uint16_t code, std::string_view reason);
    bool ws_ping(uint64_t conn, std::string_view payload);
    // After on_close() for a protocol error, the close frame is held until the
    // application has handled the messages delivered before it; this sends it.
    bool ws_finish_fail(uint64_t conn);
    // SSE
    bool sse_start(uint64_t conn, int route, const HeaderList& headers);
    long long sse_send_raw(uint64_t conn, std::string_view encoded);
    bool sse_end(uint64_t conn);
    // Pub/sub (WebSocket and SSE connections alike; SSE gets `sse_encoded`)
    bool subscribe(uint64_t conn, const std::string& topic);
    bool unsubscribe(uint64_t conn, const std::string& topic);
    size_t publish(const std::string& topic, std::string_view data, bool text,
                   std::string_view sse_encoded = {});
    size_t subscribers(const std::string& topic) const;
    // Topics whose local subscriber set became non-empty or empty since the last
    // take (closes included), for a broker bridge that subscribes once per topic per
    // process. Off until enabled; deduplicated, so bounded by the number of topics.
    void track_topic_changes(bool on) noexcept { track_topics_ = on; }
    bool topics_changed() const noexcept { return !changed_topics_.empty(); }
    std::vector<std::string> take_topic_changes();

    long long buffered(uint64_t conn) const;
    bool alive(uint64_t conn) const;
    ConnKind kind(uint64_t conn) const;
    void close_connection(uint64_t conn);  // abrupt (e.g. handler error on plain HTTP)

    // Graceful stop: listening socket closed, WebSockets get 1001 after what was
    // already queued, SSE streams end, idle HTTP closes, in-flight HTTP finishes.
    void begin_shutdown();
    size_t connection_count() const noexcept { return conns_.size(); }
    // TLS sessions busy enough to keep their record buffers between records (timers.cpp).
    size_t tls_buffers_held() const noexcept;
    const Stats& stats() const noexcept { return stats_; }
    uint64_t now_ms() const noexcept { return now_ms_; }

   private:
    friend struct Connection;
    friend struct WsHandler;
    Connection* find(uint64_t id) const;
    void on_accept();
    void bind_listener();
    void adopt_listener();
    void on_timer();
    void handle_io(Connection* c, uint32_t events);
    void read_from(Connection* c);
    bool read_tls(Connection* c);
    void consume(Connection* c, size_t len);
    long send_now(Connection* c, std::string_view a, std::string_view b);
    void process_input(Connection* c, uint8_t* data, size_t len);
    size_t process_http(Connection* c, uint8_t* data, size_t len);
    size_t process_ws(Connection* c, uint8_t* data, size_t len);
    void http_error(Connection* c, int status, std::string_view reason);
    bool write_out(Connection* c, std::string_view a, std::string_view b = {});
    bool buffer_out(Connection* c, std::string_view a, std::string_view b);
    // Unprocessed input one connection may hold: pipelined bytes plus one request head and body.
    size_t input_cap() const noexcept {
        return cfg_.max_pending_input + cfg_.http_limits.max_header_bytes + cfg_.http_limits.max_body_size;
    }
    void flush(Connection* c);
    void uncork();
    void wake();
    void defer_read(Connection* c);
    void run_deferred_reads();
    void update_events(Connection* c);
    void close_conn(Connection* c, uint16_t code, std::string_view reason, bool notify = true);
    void send_ws_frame(Connection* c, int opcode, std::string_view payload, bool compress_ok);
    void start_ws_close(Connection* c, uint16_t code, std::string_view reason);
    void finish_fail(Connection* c);
    void drop_topics(Connection* c);
    void arm_timer();
    void reap();
    void resume_http(Connection* c);

    ServerConfig cfg_;
    Callbacks* cb_;
    std::unique_ptr<TlsContext> tls_;  // built by listen(), before the port is taken
    int epfd_ = -1, listen_fd_ = -1, timer_fd_ = -1, wake_fd_ = -1;
    int port_ = 0;
    bool shutting_down_ = false;
    bool timer_armed_ = false;
    uint64_t next_id_ = 1;
    uint64_t now_ms_ = 0;
    std::unordered_map<uint64_t, Connection*> conns_;
    std::vector<Connection*> dead_;
    std::vector<WsRouteOptions> ws_routes_;
    std::vector<SseRouteOptions> sse_routes_;
    std::unordered_map<std::string, std::unordered_set<Connection*>> topics_;
    std::unordered_set<std::string> changed_topics_;
    bool track_topics_ = false;
    // Publish corking: output written while corking_ is appended, not sent; every connection
    // touched is listed (by id: it may close meanwhile) and flushed once by uncork(), at the
    // end of poll(). A publish outside poll() wakes the loop through wake_fd_ so the next
    // poll() comes at once: all publishes of one loop iteration leave in one write per peer.
    // One compressor per window size for publish() to subscribers without server context
    // takeover: their frames are identical, so each publish compresses once per size.
    std::array<std::unique_ptr<ws::Deflater>, 16> shared_deflaters_;
    bool corking_ = false;
    bool in_poll_ = false;
    std::vector<uint64_t> corked_;
    std::vector<uint64_t> deferred_reads_;  // TLS connections with read-ahead bytes to process
    std::vector<uint8_t> rbuf_;     // shared read buffer: only leftovers are copied per connection
    http::Request scratch_req_{};   // the request being dispatched (views into input)
    Connection* dispatching_ = nullptr;
    Stats stats_;
};

}  // namespace fasterapi::net
