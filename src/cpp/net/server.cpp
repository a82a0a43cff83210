// The loop and connection lifecycle: the epoll set, poll() rounds, lookup by id,
// close and reap, graceful shutdown. Each job around it has its own file:
// listener (accept), transport (bytes in/out), http_conn, ws_conn, sse_stream,
// topics (pub/sub) and timers.
#include "net/connection.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <vector>

namespace fasterapi::net {

Server::Server(ServerConfig cfg, Callbacks* cb) : cfg_(std::move(cfg)), cb_(cb) {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_fd_ < 0) throw std::system_error(errno, std::generic_category(), "timerfd_create");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTimerTag;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, timer_fd_, &ev);
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
    ev.data.u64 = kWakeTag;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, wake_fd_, &ev);
    rbuf_.resize(kReadChunk);
    now_ms_ = monotonic_ms();
}

Server::~Server() {
    for (auto& [id, c] : conns_) {
        if (c->ssl) tls_free(c->ssl);
        if (c->fd >= 0) ::close(c->fd);
        delete c;
    }
    conns_.clear();
    reap();
    if (listen_fd_ >= 0) ::close(listen_fd_);
    if (timer_fd_ >= 0) ::close(timer_fd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
    if (epfd_ >= 0) ::close(epfd_);
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
    in_poll_ = true;
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
            } else if (tag == kWakeTag) {
                uint64_t count;
                while (read(wake_fd_, &count, sizeof count) > 0) {
                }
            } else {
                auto* c = reinterpret_cast<Connection*>(evs[i].data.ptr);
                if (!c->closed) handle_io(c, evs[i].events);
            }
        }
        if (!deferred_reads_.empty()) run_deferred_reads();
        uncork();  // what this round published leaves now, one write per connection
        reap();
        if (n < 256) break;
    }
    uncork();  // publishes made outside poll() (they woke us)
    in_poll_ = false;
    reap();
}

void Server::reap() {
    for (Connection* c : dead_) delete c;
    dead_.clear();
}

void Server::close_conn(Connection* c, uint16_t code, std::string_view reason, bool notify) {
    if (c->closed) return;
    c->closed = true;
    epoll_ctl(epfd_, EPOLL_CTL_DEL, c->fd, nullptr);
    if (c->ssl) {
        tls_free(c->ssl);
        c->ssl = nullptr;
    }
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

void Server::close_connection(uint64_t id) {
    if (Connection* c = find(id)) close_conn(c, 1006, "closed by server");
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
