// WebSocket connections (RFC 6455): the upgrade, frames in (receiver callbacks),
// frames out (deflate, fragmentation), ping/pong and the close handshake.
#include "net/connection.h"

#include "http/response.h"
#include "ws/builder.h"
#include "ws/handshake.h"
#include "ws/receiver.h"

namespace fasterapi::net {

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

size_t Server::process_ws(Connection* c, uint8_t* data, size_t len) {
    WsState& w = *c->ws;
    w.last_recv_ms = now_ms_;
    WsHandler h{this, c};
    size_t used = w.rx.feed(data, len, h);
    // After a close or an error the rest is discarded.
    if (w.rx.closed() || w.rx.failed()) return len;
    return used ? used : len;
}

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

}  // namespace fasterapi::net
