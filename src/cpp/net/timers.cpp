// The coarse timer tick: request/keep-alive/close deadlines, WebSocket pings and
// pong timeouts, SSE keep-alive comments.
#include "net/connection.h"

#include <sys/timerfd.h>
#include "http/response.h"
#include "ws/builder.h"

namespace fasterapi::net {

void Server::arm_timer() {
    if (timer_armed_) return;
    itimerspec its{};
    its.it_interval.tv_nsec = static_cast<long>(kTickMs) * 1000000L;
    its.it_value = its.it_interval;
    timerfd_settime(timer_fd_, 0, &its, nullptr);
    timer_armed_ = true;
}

size_t Server::tls_buffers_held() const noexcept {
    size_t n = 0;
    for (const auto& [id, c] : conns_) n += c->ssl && c->tls_hold;
    return n;
}

void Server::on_timer() {
    std::vector<Connection*> expired;
    for (auto& [id, c] : conns_) {
        if (c->closed) continue;
        if (c->ssl) {
            // Busy (>= kTlsBusyIo records a tick): keep the record buffers; idle a whole tick:
            // give them back. Idle and handshaking sessions never hold ~34 KiB each.
            bool hold = c->tls_hold ? c->tls_io > 0 : c->tls_io >= kTlsBusyIo;
            if (hold != c->tls_hold) tls_hold_buffers(c->ssl, c->tls_hold = hold);
            c->tls_io = 0;
        }
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

}  // namespace fasterapi::net
