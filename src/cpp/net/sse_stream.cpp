// Server-Sent Event streams: the response head, chunked (or close-delimited for
// HTTP/1.0) events, and the end of a stream.
#include "net/connection.h"

#include "http/response.h"

namespace fasterapi::net {

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

}  // namespace fasterapi::net
