// HTTP/1.1 on a connection: input dispatch by connection kind, request heads and
// bodies, pipelining, error responses and application responses.
#include "net/connection.h"

#include <optional>
#include "http/body.h"
#include "http/response.h"

namespace fasterapi::net {

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

}  // namespace fasterapi::net
