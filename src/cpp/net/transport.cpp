// Bytes in and out of one connection: reads into the shared buffer, writes at
// once and buffers what the kernel refuses (bounded), flushes on EPOLLOUT, and
// pauses reading a peer that does not drain its output. On a TLS connection the
// same paths go through tls_read/tls_write; nothing above this file can tell.
#include "net/connection.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include "net/tls.h"
#include "ws/builder.h"

namespace fasterapi::net {

void Server::update_events(Connection* c) {
    // A peer that does not drain its output stops being read (TCP pushes back on it):
    // paused above send_high_water, resumed at or below send_low_water.
    size_t b = c->buffered();
    bool was_paused = c->read_paused;
    if (b > cfg_.send_high_water) c->read_paused = true;
    else if (b <= cfg_.send_low_water) c->read_paused = false;
    // Resumed with TLS records already read ahead: epoll will not report those.
    if (was_paused && !c->read_paused && c->ssl && tls_pending(c->ssl)) defer_read(c);
    uint32_t want = EPOLLRDHUP;
    if (!c->read_paused) want |= EPOLLIN;
    if (b > 0 || c->tls_want_write) want |= EPOLLOUT;
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
        if (c->tls_want_write) {  // a TLS read (handshake) waited for the socket to take bytes
            read_from(c);
            return;
        }
    }
    if (c->read_paused && !(events & (EPOLLRDHUP | EPOLLHUP))) return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) read_from(c);
}

// Hands len bytes of rbuf_ to the protocol, after any leftover input.
void Server::consume(Connection* c, size_t len) {
    if (c->in.empty()) {
        process_input(c, rbuf_.data(), len);
        return;
    }
    if (c->in.size() + len > input_cap()) {  // checked before the buffer grows
        close_conn(c, 1009, "too much pending input");
        return;
    }
    c->in.append(reinterpret_cast<const char*>(rbuf_.data()), len);
    std::string buf;
    buf.swap(c->in);
    process_input(c, reinterpret_cast<uint8_t*>(buf.data()), buf.size());
}

void Server::read_from(Connection* c) {
    for (int round = 0; round < 8 && !c->closed; ++round) {
        if (round > 0 && c->read_paused) break;  // what was read filled the output: stop here
        if (c->ssl && !c->lingering) {
            if (!read_tls(c)) return;
            continue;
        }
        ssize_t n = ::read(c->fd, rbuf_.data(), rbuf_.size());
        if (n > 0) {
            if (c->lingering) continue;  // discard until EOF
            auto len = static_cast<size_t>(n);
            consume(c, len);
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
    // Stopped early (round limit, or paused until the output drains) with TLS records read
    // ahead inside OpenSSL: epoll will not report them, so come back for them.
    if (!c->closed && c->ssl && !c->read_paused && tls_pending(c->ssl)) defer_read(c);
}

void Server::wake() {
    uint64_t one = 1;
    ssize_t w = ::write(wake_fd_, &one, sizeof one);  // the loop calls poll() next
    (void)w;
}

void Server::defer_read(Connection* c) {
    if (c->read_deferred) return;
    c->read_deferred = true;
    deferred_reads_.push_back(c->id);
    wake();
}

void Server::run_deferred_reads() {
    std::vector<uint64_t> ids;
    ids.swap(deferred_reads_);
    for (uint64_t id : ids) {
        Connection* c = find(id);
        if (!c) continue;
        c->read_deferred = false;
        if (!c->read_paused) read_from(c);
    }
}

// One round of TLS reads (the handshake included); false when reading should stop.
bool Server::read_tls(Connection* c) {
    c->tls_io++;
    TlsIo io = tls_read(c->ssl, rbuf_.data(), rbuf_.size());
    bool want_write = io.status == TlsStatus::WantWrite;
    if (want_write != c->tls_want_write) {
        c->tls_want_write = want_write;
        update_events(c);
    }
    if (io.bytes) {
        consume(c, io.bytes);
        if (c->closed) return false;
    }
    switch (io.status) {
        case TlsStatus::Ok:
            return true;  // the buffer filled: more records may be waiting
        case TlsStatus::WantRead:
        case TlsStatus::WantWrite:
            return false;
        case TlsStatus::Eof:
            close_conn(c, 1006, "connection closed by peer");
            return false;
        case TlsStatus::Error:
            stats_.tls_errors++;
            // From here the connection is plain bytes: OpenSSL has already queued its alert.
            // A lingering close (as for an HTTP error) keeps unread input from turning our
            // last bytes into a reset.
            tls_free(c->ssl);
            c->ssl = nullptr;
            c->tls_want_write = false;
            if (io.plain_http) {
                // Someone typed http:// for an https:// port: say so in a form they can read.
                static constexpr char kPlain[] =
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 47\r\n"
                    "Connection: close\r\n\r\nThis port speaks TLS: use https:// or wss://.\r\n";
                write_out(c, kPlain);
                if (c->closed) return false;
            }
            c->close_after_flush = true;
            flush(c);
            return false;
    }
    return false;
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

// Writes what the socket takes now, without buffering: bytes written, or -1 when the
// connection is broken. TLS takes one buffer per record, so a header and a payload
// are joined first (one record, one syscall, as writev gives plain TCP).
long Server::send_now(Connection* c, std::string_view a, std::string_view b) {
    if (c->ssl) {
        static thread_local std::string joined;
        std::string_view data = a;
        if (a.empty()) {
            data = b;
        } else if (!b.empty()) {
            joined.assign(a);
            joined.append(b);
            data = joined;
        }
        c->tls_io++;
        TlsIo io = tls_write(c->ssl, data.data(), data.size());
        if (io.status == TlsStatus::Error || io.status == TlsStatus::Eof) return -1;
        return static_cast<long>(io.bytes);
    }
    iovec iov[2];
    int cnt = 0;
    if (!a.empty()) iov[cnt++] = {const_cast<char*>(a.data()), a.size()};
    if (!b.empty()) iov[cnt++] = {const_cast<char*>(b.data()), b.size()};
    ssize_t n;
    do {
        n = ::writev(c->fd, iov, cnt);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    return static_cast<long>(n);
}

bool Server::write_out(Connection* c, std::string_view a, std::string_view b) {
    if (c->closed) return false;
    c->last_send_ms = now_ms_;
    if (corking_ && (c->corked || c->buffered() == 0)) {
        // Held for uncork(); a connection with output already waiting for EPOLLOUT just appends.
        if (!buffer_out(c, a, b)) {
            stats_.send_overflow++;
            close_conn(c, 1008, "send buffer overflow");
            return false;
        }
        if (!c->corked) {
            c->corked = true;
            corked_.push_back(c->id);
            if (!in_poll_ && corked_.size() == 1) wake();
        }
        return true;
    }
    if (c->buffered() == 0) {
        c->out.clear();
        c->out_off = 0;
        if (a.empty() && b.empty()) return true;
        long n = send_now(c, a, b);
        if (n < 0) {
            close_conn(c, 1006, "write failed");
            return false;
        }
        auto written = static_cast<size_t>(n);
        if (written >= a.size() + b.size()) return true;
        // What TLS did not take stays first in line: OpenSSL's retry must see the same bytes.
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

void Server::uncork() {
    if (corked_.empty()) return;
    std::vector<uint64_t> ids;
    ids.swap(corked_);  // flush() may run callbacks that publish again: they cork anew
    for (uint64_t id : ids) {
        Connection* c = find(id);
        if (!c || !c->corked) continue;
        c->corked = false;
        flush(c);
    }
}

void Server::flush(Connection* c) {
    size_t before = c->buffered();
    while (c->buffered() > 0) {
        long n = send_now(c, std::string_view(c->out).substr(c->out_off), {});
        if (n > 0) {
            c->out_off += static_cast<size_t>(n);
            continue;
        }
        if (n == 0) break;
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
            if (c->ssl) tls_shutdown(c->ssl);  // close_notify after the queued data (RFC 8446 6.1)
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

}  // namespace fasterapi::net
