#include "net/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <system_error>

#include "http/body.h"
#include "http/response.h"
#include "ws/builder.h"
#include "ws/handshake.h"
#include "ws/receiver.h"

namespace fasterapi::net {

namespace {
constexpr uint32_t kTickMs = 250;
constexpr size_t kReadChunk = 256u << 10;
constexpr uint64_t kTimerTag = 1;  // epoll data for the timer fd (connections use pointers)
constexpr uint64_t kListenTag = 2;

uint64_t monotonic_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1000000u;
}

}  // namespace

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
    std::unique_ptr<WsState> ws;
    std::unique_ptr<std::vector<std::string>> topics;

    size_t buffered() const noexcept { return out.size() - out_off; }
};

// Receiver callbacks for one connection (compile-time dispatch).
struct WsHandler {
    Server* s;
    Connection* c;
    void on_message(ws::Opcode op, std::string_view payload) {
        if (c->closed || c->ws->close_sent) return;
        s->stats_.ws_messages_in++;
        if (c->notify_close) s->cb_->on_ws_message(c->id, op == ws::Opcode::Text, payload);
    }
    void on_ping(std::string_view payload) {
        if (c->closed || c->ws->close_sent) return;
        if (c->buffered() > 0) {
            // Output is blocked: keep only the latest ping's pong (RFC 6455 5.5.3 allows
            // answering just the most recent), sent when the buffer drains; a peer that
            // floods pings and never reads cannot queue one pong per ping.
            c->ws->pong_pending = true;
            c->ws->pong_payload.assign(payload);
            return;
        }
        s->send_ws_frame(c, static_cast<int>(ws::Opcode::Pong), payload, false);
    }
    void on_pong(std::string_view) { c->ws->ping_outstanding = false; }
    void on_close(uint16_t code, std::string_view reason) {
        WsState& w = *c->ws;
        w.close_received = true;
        if (!w.close_sent) {
            // Echo the peer's code (RFC 6455 5.5.1); an empty close gets an empty close.
            std::string frame;
            if (code == 1005) {
                ws::append_frame(frame, ws::Opcode::Close, {});
            } else {
                ws::append_close(frame, code, {});
            }
            w.close_sent = true;
            s->write_out(c, frame);
        }
        uint16_t notify_code = code;
        std::string r(reason);
        // The server closes the TCP connection first once the handshake is done.
        c->close_after_flush = true;
        s->flush(c);
        if (c->notify_close) {
            c->notify_close = false;
            s->cb_->on_close(c->id, notify_code, r);
        }
    }
    void on_error(uint16_t code, const char* reason) {
        s->stats_.protocol_errors++;
        WsState& w = *c->ws;
        if (w.close_sent) {
            c->close_after_flush = true;
            s->flush(c);
            return;
        }
        // Fail the connection, but only after the application has answered the
        // messages that arrived before the bad frame (RFC 6455 order; Autobahn 3.x/4.x/5.15
        // check it): the close goes out on ws_finish_fail() or after close_timeout.
        w.failing = true;
        w.fail_code = code;
        w.fail_reason = reason;
        c->deadline_ms = s->now_ms_ + s->cfg_.close_timeout_ms;
        s->arm_timer();
        if (c->notify_close) {
            c->notify_close = false;
            s->cb_->on_close(c->id, code, reason);
        } else {
            s->finish_fail(c);
        }
    }
};

Server::Server(ServerConfig cfg, Callbacks* cb) : cfg_(std::move(cfg)), cb_(cb) {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_fd_ < 0) throw std::system_error(errno, std::generic_category(), "timerfd_create");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTimerTag;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, timer_fd_, &ev);
    rbuf_.resize(kReadChunk);
    now_ms_ = monotonic_ms();
}

Server::~Server() {
    for (auto& [id, c] : conns_) {
        if (c->fd >= 0) ::close(c->fd);
        delete c;
    }
    conns_.clear();
    reap();
    if (listen_fd_ >= 0) ::close(listen_fd_);
    if (timer_fd_ >= 0) ::close(timer_fd_);
    if (epfd_ >= 0) ::close(epfd_);
}

void Server::listen() {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    std::string port = std::to_string(cfg_.port);
    int rc = getaddrinfo(cfg_.host.empty() ? nullptr : cfg_.host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0)
        throw std::system_error(EINVAL, std::generic_category(),
                                "cannot resolve host '" + cfg_.host + "': " + gai_strerror(rc));
    int last_errno = 0;
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) { last_errno = errno; continue; }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (cfg_.reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, cfg_.backlog) == 0) {
            listen_fd_ = fd;
            sockaddr_storage ss{};
            socklen_t sl = sizeof ss;
            getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl);
            port_ = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                                   : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
            break;
        }
        last_errno = errno;
        ::close(fd);
    }
    freeaddrinfo(res);
    if (listen_fd_ < 0)
        throw std::system_error(last_errno, std::generic_category(),
                                "cannot listen on " + cfg_.host + ":" + port);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenTag;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, listen_fd_, &ev);
}

int Server::add_ws_route(WsRouteOptions opts) {
    ws_routes_.push_back(std::move(opts));
    return static_cast<int>(ws_routes_.size() - 1);
}

int Server::add_sse_route(SseRouteOptions opts) {
    sse_routes_.push_back(opts);
    return static_cast<int>(sse_routes_.size() - 1);
}

Connection* Server::find(uint64_t id) const {
    auto it = conns_.find(id);
    if (it == conns_.end() || it->second->closed) return nullptr;
    return it->second;
}

bool Server::alive(uint64_t id) const { return find(id) != nullptr; }

ConnKind Server::kind(uint64_t id) const {
    Connection* c = find(id);
    return c ? c->kind : ConnKind::Http;
}

long long Server::buffered(uint64_t id) const {
    Connection* c = find(id);
    return c ? static_cast<long long>(c->buffered()) : -1;
}

void Server::poll() {
    epoll_event evs[256];
    // Bounded rounds so one poll() never starves the asyncio loop.
    for (int round = 0; round < 4; ++round) {
        int n = epoll_wait(epfd_, evs, 256, 0);
        if (n <= 0) break;
        now_ms_ = monotonic_ms();
        for (int i = 0; i < n; ++i) {
            uint64_t tag = evs[i].data.u64;
            if (tag == kTimerTag) {
                uint64_t exp;
                while (read(timer_fd_, &exp, sizeof exp) > 0) {
                }
                on_timer();
            } else if (tag == kListenTag) {
                on_accept();
            } else {
                auto* c = reinterpret_cast<Connection*>(evs[i].data.ptr);
                if (!c->closed) handle_io(c, evs[i].events);
            }
        }
        reap();
        if (n < 256) break;
    }
    reap();
}

void Server::reap() {
    for (Connection* c : dead_) delete c;
    dead_.clear();
}

void Server::arm_timer() {
    if (timer_armed_) return;
    itimerspec its{};
    its.it_interval.tv_nsec = static_cast<long>(kTickMs) * 1000000L;
    its.it_value = its.it_interval;
    timerfd_settime(timer_fd_, 0, &its, nullptr);
    timer_armed_ = true;
}

void Server::on_accept() {
    for (int i = 0; i < 256; ++i) {
        sockaddr_storage ss{};
        socklen_t sl = sizeof ss;
        int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        if (shutting_down_ || conns_.size() >= cfg_.max_connections) {
            // Refuse cleanly: a 503 costs one write and tells a client why.
            static constexpr char kFull[] =
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            ssize_t w = ::write(fd, kFull, sizeof kFull - 1);
            (void)w;
            ::close(fd);
            stats_.refused_full++;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto* c = new Connection();
        c->id = next_id_++;
        c->fd = fd;
        char host[INET6_ADDRSTRLEN] = {0};
        int port = 0;
        if (ss.ss_family == AF_INET) {
            auto* a = reinterpret_cast<sockaddr_in*>(&ss);
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            port = ntohs(a->sin6_port);
        }
        c->peer = std::string(host) + ":" + std::to_string(port);
        c->deadline_ms = now_ms_ + cfg_.request_timeout_ms;
        c->events = EPOLLIN | EPOLLRDHUP;
        epoll_event ev{};
        ev.events = c->events;
        ev.data.ptr = c;
        epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
        conns_.emplace(c->id, c);
        stats_.accepted++;
        arm_timer();
    }
}

void Server::update_events(Connection* c) {
    // A peer that does not drain its output stops being read (TCP pushes back on it):
    // paused above send_high_water, resumed at or below send_low_water.
    size_t b = c->buffered();
    if (b > cfg_.send_high_water) c->read_paused = true;
    else if (b <= cfg_.send_low_water) c->read_paused = false;
    uint32_t want = EPOLLRDHUP;
    if (!c->read_paused) want |= EPOLLIN;
    if (b > 0) want |= EPOLLOUT;
    if (want == c->events) return;
    c->events = want;
    epoll_event ev{};
    ev.events = want;
    ev.data.ptr = c;
    epoll_ctl(epfd_, EPOLL_CTL_MOD, c->fd, &ev);
}

void Server::handle_io(Connection* c, uint32_t events) {
    if (events & (EPOLLERR | EPOLLHUP)) {
        if (!(events & EPOLLIN)) {
            close_conn(c, 1006, "connection reset");
            return;
        }
    }
    if (events & EPOLLOUT) {
        flush(c);
        if (c->closed) return;
    }
    if (c->read_paused && !(events & (EPOLLRDHUP | EPOLLHUP))) return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) read_from(c);
}

void Server::read_from(Connection* c) {
    for (int round = 0; round < 8 && !c->closed; ++round) {
        if (round > 0 && c->read_paused) return;  // what was read filled the output: stop here
        ssize_t n = ::read(c->fd, rbuf_.data(), rbuf_.size());
        if (n > 0) {
            if (c->lingering) continue;  // discard until EOF
            auto len = static_cast<size_t>(n);
            if (c->in.empty()) {
                process_input(c, rbuf_.data(), len);
            } else {
                if (c->in.size() + len > input_cap()) {  // checked before the buffer grows
                    close_conn(c, 1009, "too much pending input");
                    return;
                }
                c->in.append(reinterpret_cast<const char*>(rbuf_.data()), len);
                std::string buf;
                buf.swap(c->in);
                process_input(c, reinterpret_cast<uint8_t*>(buf.data()), buf.size());
            }
            if (len < rbuf_.size()) return;
            continue;
        }
        if (n == 0) {
            // Peer closed (or half-closed): nothing more can complete.
            close_conn(c, 1006, "connection closed by peer");
            return;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EINTR) continue;
        close_conn(c, 1006, "connection reset");
        return;
    }
}

// Consumes what it can; keeps the unconsumed tail in c->in.
void Server::process_input(Connection* c, uint8_t* data, size_t len) {
    if (c->in_dispatch) {  // re-entered from a callback: just queue the bytes
        c->in.append(reinterpret_cast<const char*>(data), len);
        return;
    }
    c->in_dispatch = true;
    size_t off = 0;
    while (off < len && !c->closed) {
        size_t used = 0;
        if (c->kind == ConnKind::Http) {
            // Pipelined requests wait while a response is pending or unread output is above
            // the high-water mark (resumed from flush()).
            if (c->awaiting_response || c->read_paused) break;
            used = process_http(c, data + off, len - off);
        } else if (c->kind == ConnKind::WebSocket) {
            used = process_ws(c, data + off, len - off);
        } else {
            // WsPending: frames wait for accept(); Sse: clients don't speak.
            if (c->kind == ConnKind::Sse) used = len - off;
            else break;
        }
        if (used == 0) break;
        off += used;
    }
    c->in_dispatch = false;
    if (c->closed) return;
    if (off < len) {
        std::string rest(reinterpret_cast<const char*>(data + off), len - off);
        if (!c->in.empty()) rest.append(c->in);  // bytes queued during re-entry come after
        c->in.swap(rest);
        if (c->in.size() > input_cap()) {
            close_conn(c, 1009, "too much pending input");
        }
    } else if (!c->in.empty()) {
        // Only bytes queued during re-entry remain: process them now.
        std::string buf;
        buf.swap(c->in);
        process_input(c, reinterpret_cast<uint8_t*>(buf.data()), buf.size());
    }
}

size_t Server::process_http(Connection* c, uint8_t* data, size_t len) {
    const char* p = reinterpret_cast<const char*>(data);
    http::Error err;
    long r = http::parse_request_head(p, len, scratch_req_, cfg_.http_limits, err);
    if (r == -2) return 0;
    if (r < 0) {
        http_error(c, err.status ? err.status : 400, err.reason);
        return len;
    }
    auto head = static_cast<size_t>(r);
    http::Request& req = scratch_req_;
    if (!c->body_active) {
        // A new request (an incomplete body keeps head + body buffered and the
        // head is re-parsed on the next bytes; body_fed skips what was decoded).
        if (c->body.start(req, cfg_.http_limits, err) == http::BodyReader::Status::Error) {
            http_error(c, err.status ? err.status : 413, err.reason);  // e.g. Content-Length over the limit
            return len;
        }
        c->body_active = true;
        c->head_len = head;
        c->body_fed = 0;
        c->body_buf.clear();
        c->continue_sent = false;
        c->deadline_ms = now_ms_ + cfg_.request_timeout_ms;
        arm_timer();
    }
    size_t consumed = 0;
    http::BodyReader::Status st =
        c->body.feed(p + head + c->body_fed, len - head - c->body_fed, consumed, c->body_buf, err);
    c->body_fed += consumed;
    if (st == http::BodyReader::Status::Error) {
        c->body_active = false;
        http_error(c, err.status ? err.status : 400, err.reason);
        return len;
    }
    if (st == http::BodyReader::Status::NeedMore) {
        if (req.expect_continue && !c->continue_sent && req.version_minor >= 1) {
            c->continue_sent = true;
            write_out(c, "HTTP/1.1 100 Continue\r\n\r\n");
        }
        return 0;  // keep head + partial body buffered; resumed with more bytes
    }
    // Complete request.
    c->body_active = false;
    c->head_len = 0;
    size_t total = head + c->body_fed;
    c->body_fed = 0;
    c->keep_alive = req.keep_alive && !shutting_down_;
    c->upgrade_request = req.upgrade_websocket;
    c->head_request = req.method == "HEAD";
    c->http11 = req.version_minor >= 1;
    c->awaiting_response = true;
    c->notify_close = true;
    c->deadline_ms = 0;  // the application owns the timing now
    stats_.requests++;
    std::string body;
    body.swap(c->body_buf);
    dispatching_ = c;
    cb_->on_request(c->id, req, body, c->peer);
    dispatching_ = nullptr;
    if (c->closed) return len;
    return total;
}

size_t Server::process_ws(Connection* c, uint8_t* data, size_t len) {
    WsState& w = *c->ws;
    w.last_recv_ms = now_ms_;
    WsHandler h{this, c};
    size_t used = w.rx.feed(data, len, h);
    // After a close or an error the rest is discarded.
    if (w.rx.closed() || w.rx.failed()) return len;
    return used ? used : len;
}

void Server::http_error(Connection* c, int status, std::string_view reason) {
    stats_.http_errors++;
    std::string out;
    http::append_simple_response(out, status, "text/plain; charset=utf-8", reason, false);
    c->keep_alive = false;
    c->close_after_flush = true;
    c->awaiting_response = false;
    write_out(c, out);
    flush(c);
}

// Appends to the unsent output within max_send_buffer: the cap is checked before the
// buffer grows, and growth never reserves past the cap (a plain append doubles, so the
// append that crossed 64 MiB used to allocate 128 MiB first). Growing also drops the
// already-sent prefix. Returns false (nothing appended) when the cap would be exceeded.
bool Server::buffer_out(Connection* c, std::string_view a, std::string_view b) {
    size_t live = c->buffered();
    size_t add = a.size() + b.size();
    if (add > cfg_.max_send_buffer - std::min(live, cfg_.max_send_buffer)) return false;
    if (c->out.size() + add > c->out.capacity()) {  // never let append() reallocate by itself
        size_t cap = c->out.capacity();
        if (live + add <= cap && (c->out_off >= live || cap >= cfg_.max_send_buffer)) {
            c->out.erase(0, c->out_off);  // compact in place: the sent prefix is at least half
        } else {
            size_t want = std::max(live + add, std::min(cap * 2, cfg_.max_send_buffer));
            std::string grown;
            grown.reserve(want);  // from an empty string: exactly `want`, no doubling of the old capacity
            grown.append(c->out, c->out_off, live);
            c->out.swap(grown);
        }
        c->out_off = 0;
    }
    c->out.append(a);
    c->out.append(b);
    return true;
}

bool Server::write_out(Connection* c, std::string_view a, std::string_view b) {
    if (c->closed) return false;
    c->last_send_ms = now_ms_;
    if (c->buffered() == 0) {
        c->out.clear();
        c->out_off = 0;
        iovec iov[2];
        int cnt = 0;
        if (!a.empty()) iov[cnt++] = {const_cast<char*>(a.data()), a.size()};
        if (!b.empty()) iov[cnt++] = {const_cast<char*>(b.data()), b.size()};
        if (cnt == 0) return true;
        ssize_t n;
        do {
            n = ::writev(c->fd, iov, cnt);
        } while (n < 0 && errno == EINTR);
        size_t written = n > 0 ? static_cast<size_t>(n) : 0;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            close_conn(c, 1006, "write failed");
            return false;
        }
        if (written >= a.size() + b.size()) return true;
        if (written < a.size()) {
            a = a.substr(written);
        } else {
            b = b.substr(written - a.size());
            a = {};
        }
    }
    if (!buffer_out(c, a, b)) {
        stats_.send_overflow++;
        close_conn(c, 1008, "send buffer overflow");
        return false;
    }
    update_events(c);
    return true;
}

void Server::flush(Connection* c) {
    size_t before = c->buffered();
    while (c->buffered() > 0) {
        ssize_t n = ::write(c->fd, c->out.data() + c->out_off, c->buffered());
        if (n > 0) {
            c->out_off += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        close_conn(c, 1006, "write failed");
        return;
    }
    // A response still being read is not an idle keep-alive connection: the timeout
    // counts from the last progress, so a slow reader gets its whole response while a
    // peer that stops reading is still closed after keepalive_timeout.
    if (c->buffered() < before && c->kind == ConnKind::Http && !c->awaiting_response && !c->lingering &&
        c->deadline_ms && !c->body_active)
        c->deadline_ms = std::max(c->deadline_ms, now_ms_ + cfg_.keepalive_timeout_ms);
    if (c->buffered() == 0 && c->ws && c->ws->pong_pending) {
        WsState& w = *c->ws;
        w.pong_pending = false;
        std::string payload;
        payload.swap(w.pong_payload);
        if (!w.close_sent && c->kind == ConnKind::WebSocket) {
            send_ws_frame(c, static_cast<int>(ws::Opcode::Pong), payload, false);
            if (c->closed) return;
        }
    }
    if (c->buffered() == 0) {
        c->out.clear();
        c->out_off = 0;
        if (c->out.capacity() > (64u << 10)) std::string().swap(c->out);  // idle connections stay small
        if (c->close_after_flush && !c->lingering) {
            // Lingering close: stop sending, drain the peer, so our last bytes are not lost to a RST.
            ::shutdown(c->fd, SHUT_WR);
            c->lingering = true;
            c->deadline_ms = now_ms_ + 2000;
            arm_timer();
        }
    }
    if (c->drain_wanted && c->buffered() <= cfg_.send_low_water) {
        c->drain_wanted = false;
        cb_->on_drain(c->id);
    }
    if (c->closed) return;
    bool was_paused = c->read_paused;
    update_events(c);
    if (was_paused && !c->read_paused && c->kind == ConnKind::Http && !c->awaiting_response) resume_http(c);
}

void Server::close_conn(Connection* c, uint16_t code, std::string_view reason, bool notify) {
    if (c->closed) return;
    c->closed = true;
    epoll_ctl(epfd_, EPOLL_CTL_DEL, c->fd, nullptr);
    ::close(c->fd);
    c->fd = -1;
    drop_topics(c);
    conns_.erase(c->id);
    dead_.push_back(c);
    stats_.closed++;
    if (notify && c->notify_close) {
        c->notify_close = false;
        cb_->on_close(c->id, code, reason);
    }
    if (conns_.empty() && timer_armed_) {
        itimerspec its{};
        timerfd_settime(timer_fd_, 0, &its, nullptr);
        timer_armed_ = false;
    }
}

void Server::drop_topics(Connection* c) {
    if (!c->topics) return;
    for (const auto& t : *c->topics) {
        auto it = topics_.find(t);
        if (it != topics_.end()) {
            it->second.erase(c);
            if (it->second.empty()) {
                if (track_topics_) changed_topics_.insert(it->first);
                topics_.erase(it);
            }
        }
    }
    c->topics.reset();
}

void Server::close_connection(uint64_t id) {
    if (Connection* c = find(id)) close_conn(c, 1006, "closed by server");
}

// --- HTTP responses ------------------------------------------------------------

bool Server::respond(uint64_t id, int status, const HeaderList& headers, std::string_view body,
                     bool head_only) {
    Connection* c = find(id);
    if (!c || c->kind != ConnKind::Http || !c->awaiting_response) return false;
    bool keep = c->keep_alive && !c->upgrade_request && !shutting_down_;
    std::string head;
    bool has_len = false;
    for (const auto& h : headers)
        if (http::iequals(h.first, "content-length")) has_len = true;
    http::append_response_head(head, status, headers,
                               has_len || status == 204 || status == 304 || status < 200
                                   ? std::optional<uint64_t>{}
                                   : std::optional<uint64_t>{body.size()},
                               keep);
    // HTTP/1.0 closes by default: a kept connection must say so (RFC 9112 9.3).
    if (keep && !c->http11) head.insert(head.size() - 2, "Connection: keep-alive\r\n");
    c->awaiting_response = false;
    c->notify_close = false;
    bool no_body = head_only || c->head_request || status == 204 || status == 304 || status < 200;
    write_out(c, head, no_body ? std::string_view{} : body);
    if (c->closed) return true;
    if (!keep) {
        c->close_after_flush = true;
        flush(c);
        return true;
    }
    c->deadline_ms = now_ms_ + cfg_.keepalive_timeout_ms;
    arm_timer();
    resume_http(c);
    return true;
}

void Server::resume_http(Connection* c) {
    if (c->in_dispatch || c->in.empty() || c->closed) return;
    std::string buf;
    buf.swap(c->in);
    process_input(c, reinterpret_cast<uint8_t*>(buf.data()), buf.size());
}

// --- WebSocket -----------------------------------------------------------------

HandshakeInfo Server::ws_prepare(uint64_t id, int route) {
    HandshakeInfo info;
    Connection* c = find(id);
    if (!c || c != dispatching_ || !c->upgrade_request || route < 0 ||
        route >= static_cast<int>(ws_routes_.size())) {
        info.status = 500;
        info.reason = "ws_prepare must be called while dispatching an upgrade request";
        return info;
    }
    const WsRouteOptions& ro = ws_routes_[static_cast<size_t>(route)];
    ws::HandshakeOptions ho;
    ho.subprotocols = ro.subprotocols;
    ho.allowed_origins = ro.allowed_origins;
    ho.deflate = ro.deflate;
    ho.deflate.enabled = ro.compression;
    ws::HandshakeResult hs = ws::validate_upgrade(scratch_req_, ho);
    info.status = hs.status;
    info.reason = hs.reason;
    info.subprotocol = hs.subprotocol;
    info.offered_subprotocols = hs.offered_subprotocols;
    if (hs.status != 101) {
        std::string out;
        ws::write_refusal_response(out, hs.status, hs.reason, http::http_date());
        c->awaiting_response = false;
        c->notify_close = false;
        c->close_after_flush = true;
        write_out(c, out);
        flush(c);
        return info;
    }
    ws::ReceiverConfig rc;
    rc.max_message_size = ro.max_message_size;
    c->ws = std::make_unique<WsState>(route, rc);
    c->ws->hs = std::move(hs);
    c->kind = ConnKind::WsPending;
    c->awaiting_response = false;
    c->deadline_ms = now_ms_ + cfg_.request_timeout_ms;  // accept() must come in time
    arm_timer();
    return info;
}

bool Server::ws_accept(uint64_t id, std::string_view subprotocol, const HeaderList& headers) {
    Connection* c = find(id);
    if (!c || c->kind != ConnKind::WsPending) return false;
    WsState& w = *c->ws;
    const WsRouteOptions& ro = ws_routes_[static_cast<size_t>(w.route)];
    std::string out;
    ws::write_accept_response(out, w.hs, subprotocol, headers);
    if (w.hs.deflate) {
        w.deflate = true;
        w.params = w.hs.deflate_params;
        const auto& p = w.params;
        w.inflater = std::make_unique<ws::Inflater>(p.client_max_window_bits, p.client_no_context_takeover);
        w.rx.set_inflater(w.inflater.get());
    }
    w.hs = ws::HandshakeResult{};  // free handshake strings: idle connections stay small
    c->kind = ConnKind::WebSocket;
    c->deadline_ms = ro.idle_timeout_ms ? now_ms_ + ro.idle_timeout_ms : 0;
    w.last_recv_ms = now_ms_;
    arm_timer();
    if (!write_out(c, out)) return false;
    // Frames the client sent right after its request are processed now.
    if (!c->in.empty() && !c->in_dispatch) {
        std::string buf;
        buf.swap(c->in);
        process_input(c, reinterpret_cast<uint8_t*>(buf.data()), buf.size());
    }
    return true;
}

bool Server::ws_reject(uint64_t id, int status, std::string_view reason) {
    Connection* c = find(id);
    if (!c || c->kind != ConnKind::WsPending) return false;
    std::string out;
    ws::write_refusal_response(out, status, reason, http::http_date());
    c->notify_close = false;
    c->close_after_flush = true;
    c->kind = ConnKind::Http;
    write_out(c, out);
    flush(c);
    return true;
}

void Server::send_ws_frame(Connection* c, int opcode, std::string_view payload, bool compress_ok) {
    WsState& w = *c->ws;
    const WsRouteOptions& ro = ws_routes_[static_cast<size_t>(w.route)];
    bool rsv1 = false;
    static thread_local std::string zbuf;
    if (compress_ok && w.deflate && payload.size() >= ro.deflate.min_size) {
        if (!w.deflater)  // created on first use: a connection that never sends costs no zlib state
            w.deflater = std::make_unique<ws::Deflater>(w.params.server_max_window_bits, ro.deflate.mem_level,
                                                        w.params.server_no_context_takeover,
                                                        ro.deflate.compression_level);
        zbuf.clear();
        w.deflater->compress(payload, zbuf);
        payload = zbuf;
        rsv1 = true;
    }
    if (ro.fragment_size && payload.size() > ro.fragment_size &&
        (opcode == 1 || opcode == 2)) {
        static thread_local std::string fbuf;
        fbuf.clear();
        ws::append_message(fbuf, static_cast<ws::Opcode>(opcode), payload, ro.fragment_size, rsv1, false);
        write_out(c, fbuf);
        return;
    }
    uint8_t hdr[14];
    size_t hl = ws::write_frame_header(hdr, static_cast<ws::Opcode>(opcode), true, rsv1, payload.size(), nullptr);
    write_out(c, std::string_view(reinterpret_cast<char*>(hdr), hl), payload);
}

long long Server::ws_send(uint64_t id, std::string_view data, bool text) {
    Connection* c = find(id);
    if (!c || c->kind != ConnKind::WebSocket || c->ws->close_sent) return -1;
    stats_.ws_messages_out++;
    send_ws_frame(c, text ? 1 : 2, data, true);
    if (c->closed) return -1;
    size_t b = c->buffered();
    if (b > cfg_.send_high_water) c->drain_wanted = true;
    return static_cast<long long>(b);
}

void Server::start_ws_close(Connection* c, uint16_t code, std::string_view reason) {
    WsState& w = *c->ws;
    if (w.close_sent) return;
    std::string frame;
    ws::append_close(frame, code, reason);
    w.close_sent = true;
    c->deadline_ms = now_ms_ + cfg_.close_timeout_ms;
    arm_timer();
    write_out(c, frame);
}

bool Server::ws_close(uint64_t id, uint16_t code, std::string_view reason) {
    Connection* c = find(id);
    if (!c) return false;
    if (c->kind == ConnKind::WsPending) return ws_reject(id, 403, "WebSocket refused by the application");
    if (c->kind != ConnKind::WebSocket) return false;
    if (c->ws->failing) {
        finish_fail(c);
        return true;
    }
    // The application asked: it won't need an on_close for this one.
    c->notify_close = false;
    start_ws_close(c, code, reason);
    return true;
}

void Server::finish_fail(Connection* c) {
    if (c->closed || !c->ws || !c->ws->failing) return;
    WsState& w = *c->ws;
    w.failing = false;
    if (!w.close_sent) {
        std::string frame;
        ws::append_close(frame, w.fail_code, w.fail_reason);
        w.close_sent = true;
        write_out(c, frame);
        if (c->closed) return;
    }
    c->close_after_flush = true;
    flush(c);
}

bool Server::ws_finish_fail(uint64_t id) {
    Connection* c = find(id);
    if (!c || !c->ws || !c->ws->failing) return false;
    finish_fail(c);
    return true;
}

bool Server::ws_ping(uint64_t id, std::string_view payload) {
    Connection* c = find(id);
    if (!c || c->kind != ConnKind::WebSocket || c->ws->close_sent || payload.size() > 125) return false;
    send_ws_frame(c, 9, payload, false);
    return true;
}

// --- SSE -----------------------------------------------------------------------

bool Server::sse_start(uint64_t id, int route, const HeaderList& headers) {
    Connection* c = find(id);
    if (!c || c->kind != ConnKind::Http || !c->awaiting_response || route < 0 ||
        route >= static_cast<int>(sse_routes_.size()))
        return false;
    HeaderList h = {{"Content-Type", "text/event-stream; charset=utf-8"},
                    {"Cache-Control", "no-cache"},
                    {"X-Accel-Buffering", "no"}};
    for (const auto& x : headers) h.push_back(x);
    c->sse_chunked = c->http11;  // HTTP/1.0: close-delimited body
    if (!c->sse_chunked) c->keep_alive = false;
    std::string head;
    http::append_response_head(head, 200, h, std::nullopt, c->sse_chunked && c->keep_alive, c->sse_chunked);
    c->awaiting_response = false;
    if (c->head_request) {
        // HEAD: the header fields GET would send, framing included, and no body
        // (RFC 9110 9.3.2, 8.6); the exchange is complete, like respond().
        c->notify_close = false;
        if (!c->sse_chunked || !c->keep_alive || shutting_down_) {
            c->close_after_flush = true;  // GET would be close-delimited: say the same
            if (write_out(c, head)) flush(c);
            return true;
        }
        c->deadline_ms = now_ms_ + cfg_.keepalive_timeout_ms;
        arm_timer();
        if (write_out(c, head)) resume_http(c);
        return true;
    }
    c->kind = ConnKind::Sse;
    c->sse_route = route;
    c->deadline_ms = 0;
    arm_timer();
    return write_out(c, head);
}

long long Server::sse_send_raw(uint64_t id, std::string_view encoded) {
    Connection* c = find(id);
    if (!c || c->kind != ConnKind::Sse) return -1;
    if (c->sse_chunked) {
        std::string chunk;
        http::append_chunk(chunk, encoded);
        write_out(c, chunk);
    } else {
        write_out(c, encoded);
    }
    if (c->closed) return -1;
    size_t b = c->buffered();
    if (b > cfg_.send_high_water) c->drain_wanted = true;
    return static_cast<long long>(b);
}

bool Server::sse_end(uint64_t id) {
    Connection* c = find(id);
    if (!c || c->kind != ConnKind::Sse) return false;
    c->notify_close = false;
    drop_topics(c);
    if (c->sse_chunked && c->keep_alive && !shutting_down_) {
        // A finished chunked stream leaves a reusable keep-alive connection.
        std::string last;
        http::append_last_chunk(last);
        c->kind = ConnKind::Http;
        c->sse_route = -1;
        c->deadline_ms = now_ms_ + cfg_.keepalive_timeout_ms;
        arm_timer();
        if (!write_out(c, last)) return true;
        resume_http(c);
        return true;
    }
    if (c->sse_chunked) {
        std::string last;
        http::append_last_chunk(last);
        write_out(c, last);
    }
    c->close_after_flush = true;
    flush(c);
    return true;
}

// --- pub/sub -------------------------------------------------------------------

bool Server::subscribe(uint64_t id, const std::string& topic) {
    Connection* c = find(id);
    if (!c || (c->kind != ConnKind::WebSocket && c->kind != ConnKind::Sse)) return false;
    if (!c->topics) c->topics = std::make_unique<std::vector<std::string>>();
    if (std::find(c->topics->begin(), c->topics->end(), topic) == c->topics->end())
        c->topics->push_back(topic);
    auto& subs = topics_[topic];
    if (subs.insert(c).second && subs.size() == 1 && track_topics_) changed_topics_.insert(topic);
    return true;
}

bool Server::unsubscribe(uint64_t id, const std::string& topic) {
    Connection* c = find(id);
    if (!c || !c->topics) return false;
    auto& t = *c->topics;
    auto it = std::find(t.begin(), t.end(), topic);
    if (it == t.end()) return false;
    t.erase(it);
    auto tt = topics_.find(topic);
    if (tt != topics_.end()) {
        tt->second.erase(c);
        if (tt->second.empty()) {
            if (track_topics_) changed_topics_.insert(topic);
            topics_.erase(tt);
        }
    }
    return true;
}

std::vector<std::string> Server::take_topic_changes() {
    std::vector<std::string> out(changed_topics_.begin(), changed_topics_.end());
    changed_topics_.clear();
    return out;
}

size_t Server::subscribers(const std::string& topic) const {
    auto it = topics_.find(topic);
    return it == topics_.end() ? 0 : it->second.size();
}

size_t Server::publish(const std::string& topic, std::string_view data, bool text,
                       std::string_view sse_encoded) {
    auto it = topics_.find(topic);
    if (it == topics_.end()) return 0;
    // Frames built once: plain, and compressed with a fresh context (valid for any
    // peer whose server-side context is reset per message); SSE chunk once.
    std::string plain, shared_z, sse_chunk;
    uint8_t hdr[14];
    size_t hl = ws::write_frame_header(hdr, text ? ws::Opcode::Text : ws::Opcode::Binary, true, false,
                                       data.size(), nullptr);
    plain.assign(reinterpret_cast<char*>(hdr), hl);
    plain.append(data);
    std::vector<Connection*> targets(it->second.begin(), it->second.end());
    size_t delivered = 0;
    for (Connection* c : targets) {
        if (c->closed) continue;
        if (c->kind == ConnKind::WebSocket) {
            if (c->ws->close_sent) continue;
            const WsRouteOptions& ro = ws_routes_[static_cast<size_t>(c->ws->route)];
            if (c->buffered() > ro.max_backlog) {
                if (ro.slow_policy == SlowPolicy::Drop) {
                    stats_.slow_dropped++;
                } else {
                    // Close 1008 behind the backlog (one small frame over max_backlog, within
                    // max_send_buffer); nothing more is queued, and if the peer has not read up
                    // to it and answered within close_timeout the TCP connection is closed.
                    // The application hears 1008 now.
                    stats_.slow_closed++;
                    drop_topics(c);
                    start_ws_close(c, 1008, "subscriber too slow");
                    if (!c->closed && c->notify_close) {
                        c->notify_close = false;
                        cb_->on_close(c->id, 1008, "subscriber too slow");
                    }
                }
                continue;
            }
            if (c->ws->deflate) {
                send_ws_frame(c, text ? 1 : 2, data, true);
            } else {
                write_out(c, plain);
            }
            stats_.ws_messages_out++;
            delivered++;
        } else if (c->kind == ConnKind::Sse) {
            if (sse_encoded.empty()) continue;
            const SseRouteOptions& so = sse_routes_[static_cast<size_t>(c->sse_route)];
            if (c->buffered() > so.max_backlog) {
                if (so.slow_policy == SlowPolicy::Drop) {
                    stats_.slow_dropped++;
                } else {
                    stats_.slow_closed++;
                    close_conn(c, 1008, "subscriber too slow");
                }
                continue;
            }
            if (c->sse_chunked) {
                if (sse_chunk.empty()) http::append_chunk(sse_chunk, sse_encoded);
                write_out(c, sse_chunk);
            } else {
                write_out(c, sse_encoded);
            }
            delivered++;
        }
    }
    return delivered;
}

// --- timers and shutdown ---------------------------------------------------------

void Server::on_timer() {
    std::vector<Connection*> expired;
    for (auto& [id, c] : conns_) {
        if (c->closed) continue;
        if (c->deadline_ms && now_ms_ >= c->deadline_ms) {
            expired.push_back(c);
            continue;
        }
        if (c->kind == ConnKind::WebSocket) {
            WsState& w = *c->ws;
            const WsRouteOptions& ro = ws_routes_[static_cast<size_t>(w.route)];
            if (ro.ping_interval_ms && !w.close_sent && !w.failing) {
                if (w.ping_outstanding) {
                    if (now_ms_ - w.ping_sent_ms >= ro.pong_timeout_ms) expired.push_back(c);
                } else if (now_ms_ - w.last_recv_ms >= ro.ping_interval_ms) {
                    w.ping_outstanding = true;
                    w.ping_sent_ms = now_ms_;
                    send_ws_frame(c, 9, {}, false);
                }
            }
        } else if (c->kind == ConnKind::Sse) {
            const SseRouteOptions& so = sse_routes_[static_cast<size_t>(c->sse_route)];
            if (so.ping_interval_ms && now_ms_ - c->last_send_ms >= so.ping_interval_ms) {
                std::string ka;
                if (c->sse_chunked) http::append_chunk(ka, ": keep-alive\n\n");
                else ka = ": keep-alive\n\n";
                write_out(c, ka);
            }
        }
    }
    for (Connection* c : expired) {
        if (c->closed) continue;
        stats_.timeouts++;
        if (c->kind == ConnKind::WebSocket && c->ws->failing) {
            finish_fail(c);
        } else if (c->kind == ConnKind::WebSocket && c->ws->close_sent) {
            close_conn(c, 1006, "close handshake timed out");
        } else if (c->kind == ConnKind::WebSocket) {
            close_conn(c, 1006, "ping timeout");
        } else if (c->kind == ConnKind::Http && !c->lingering && !c->awaiting_response &&
                   (!c->in.empty() || c->body_active)) {
            http_error(c, 408, "request timeout");
        } else {
            close_conn(c, 1006, "timeout");
        }
    }
}

void Server::begin_shutdown() {
    shutting_down_ = true;
    if (listen_fd_ >= 0) {
        epoll_ctl(epfd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
        ::close(listen_fd_);
        listen_fd_ = -1;
    }
    std::vector<Connection*> all;
    for (auto& [id, c] : conns_) all.push_back(c);
    for (Connection* c : all) {
        if (c->closed) continue;
        switch (c->kind) {
            case ConnKind::WebSocket:
                start_ws_close(c, 1001, "server shutting down");
                break;
            case ConnKind::WsPending:
                ws_reject(c->id, 503, "server shutting down");
                break;
            case ConnKind::Sse:
                if (c->notify_close) {
                    c->notify_close = false;
                    cb_->on_close(c->id, 1001, "server shutting down");
                }
                sse_end(c->id);
                break;
            case ConnKind::Http:
                if (!c->awaiting_response && !c->lingering) close_conn(c, 1001, "server shutting down");
                else c->keep_alive = false;
                break;
        }
    }
}

}  // namespace fasterapi::net
