// fasterapi-sink: the trivial native WebSocket echo that the load generator is
// measured against ("generator headroom", docs/benchmarks.md). It does as little
// as a server can: one edge-triggered epoll loop, no UTF-8 check, no limits beyond
// a per-connection buffer, no compression; each read's complete frames are unmasked
// into one write. Any path upgrades. Not a server to use for anything else.
//   fasterapi-sink [--host 127.0.0.1] [--port 9003]
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tools/lib/loadgen_proto.h"

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

constexpr size_t kMaxBuffered = 64u << 20;  // per connection, either direction

struct Conn {
    int fd = -1;
    bool open = false;  // handshake done
    std::vector<uint8_t> in;  // unparsed bytes
    std::vector<uint8_t> out;  // bytes the kernel refused
};

// Appends a server frame to `out` for every complete client frame in p[0, n) and returns the
// bytes consumed. ok turns false when the peer sent close (answered) or a frame the sink will
// not echo (unmasked, or longer than it buffers).
size_t echo_frames(const uint8_t* p, size_t n, std::vector<uint8_t>& out, bool& ok) {
    size_t at = 0;
    while (n - at >= 2) {
        const uint8_t* f = p + at;
        uint64_t len = f[1] & 0x7f;
        size_t hdr = 2;
        if (len == 126) hdr = 4;
        else if (len == 127) hdr = 10;
        if (!(f[1] & 0x80)) {  // clients must mask (RFC 6455 5.1)
            ok = false;
            break;
        }
        if (n - at < hdr + 4) break;
        if (hdr == 4) len = static_cast<uint64_t>(f[2]) << 8 | f[3];
        if (hdr == 10) {
            len = 0;
            for (int i = 2; i < 10; ++i) len = len << 8 | f[i];
        }
        if (len > kMaxBuffered) {
            ok = false;
            break;
        }
        if (n - at < hdr + 4 + len) break;
        uint8_t mask[4];
        std::memcpy(mask, f + hdr, 4);
        const uint8_t* payload = f + hdr + 4;
        uint8_t op = f[0] & 0x0f;
        uint8_t b0 = f[0];
        if (op == 9) b0 = static_cast<uint8_t>((b0 & 0xf0) | 10);  // ping -> pong
        // Server frame: same first byte, unmasked length, payload XOR mask.
        size_t o = out.size();
        out.resize(o + hdr + len);
        uint8_t* d = out.data() + o;
        d[0] = b0;
        d[1] = static_cast<uint8_t>(f[1] & 0x7f);
        std::memcpy(d + 2, f + 2, hdr - 2);
        d += hdr;
        uint32_t m32;
        std::memcpy(&m32, mask, 4);
        uint64_t m64 = static_cast<uint64_t>(m32) << 32 | m32;
        size_t i = 0;
        for (; i + 8 <= len; i += 8) {
            uint64_t w;
            std::memcpy(&w, payload + i, 8);
            w ^= m64;
            std::memcpy(d + i, &w, 8);
        }
        for (; i < len; ++i) d[i] = payload[i] ^ mask[i & 3];
        at += hdr + 4 + len;
        if (op == 8) {  // close: echoed above (same code), then we are done
            ok = false;
            break;
        }
    }
    return at;
}

bool handshake(Conn& c, std::vector<uint8_t>& out) {
    std::string_view h(reinterpret_cast<const char*>(c.in.data()), c.in.size());
    size_t end = h.find("\r\n\r\n");
    if (end == std::string_view::npos) return c.in.size() < 16384;
    std::string key;
    size_t pos = h.find("\r\n");
    while (pos < end) {
        size_t eol = h.find("\r\n", pos + 2);
        std::string_view line = h.substr(pos + 2, eol - pos - 2);
        pos = eol;
        if (line.size() > 18 && strncasecmp(line.data(), "sec-websocket-key:", 18) == 0) {
            std::string_view v = line.substr(18);
            while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
            while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
            key = std::string(v);
        }
    }
    if (key.empty()) return false;
    std::string resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: " + fasterapi::loadgen::ws_accept(key) + "\r\n\r\n";
    out.insert(out.end(), resp.begin(), resp.end());
    c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(end + 4));
    c.open = true;
    return true;
}

void close_conn(int ep, Conn* c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, nullptr);
    ::close(c->fd);
    delete c;
}

// Writes c.out then `more`; keeps what the kernel refuses. False on a dead socket.
bool write_out(Conn& c, const uint8_t* p, size_t n) {
    if (!c.out.empty()) {
        c.out.insert(c.out.end(), p, p + n);
        p = c.out.data();
        n = c.out.size();
    }
    size_t done = 0;
    while (done < n) {
        ssize_t w = ::send(c.fd, p + done, n - done, MSG_NOSIGNAL);
        if (w > 0) {
            done += static_cast<size_t>(w);
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        return false;
    }
    if (c.out.empty()) {
        c.out.assign(p + done, p + n);
    } else {
        c.out.erase(c.out.begin(), c.out.begin() + static_cast<std::ptrdiff_t>(done));
    }
    return c.out.size() <= kMaxBuffered;
}

void usage() { std::fprintf(stderr, "usage: fasterapi-sink [--host 127.0.0.1] [--port 9003]\n"); }

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1", port = "9003";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "--host" || a == "--port") && i + 1 < argc) {
            (a == "--host" ? host : port) = argv[++i];
        } else if (a == "-h" || a == "--help") {
            usage();
            return 0;
        } else {
            usage();
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res) {
        std::fprintf(stderr, "fasterapi-sink: cannot resolve %s\n", host.c_str());
        return 1;
    }
    int lfd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lfd < 0 || ::bind(lfd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(lfd, 4096) != 0) {
        std::fprintf(stderr, "fasterapi-sink: cannot listen on %s:%s: %s\n", host.c_str(), port.c_str(),
                     std::strerror(errno));
        return 1;
    }
    freeaddrinfo(res);
    std::fprintf(stderr, "fasterapi-sink listening on %s:%s\n", host.c_str(), port.c_str());

    int ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_event lev{};
    lev.events = EPOLLIN;
    lev.data.ptr = nullptr;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
    std::vector<uint8_t> rbuf(256 * 1024), out;
    epoll_event evs[256];
    while (!g_stop) {
        int n = epoll_wait(ep, evs, 256, 200);
        for (int i = 0; i < n; ++i) {
            auto* c = static_cast<Conn*>(evs[i].data.ptr);
            if (!c) {
                for (;;) {
                    int fd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    auto* nc = new Conn;
                    nc->fd = fd;
                    epoll_event ev{};
                    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
                    ev.data.ptr = nc;
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            bool alive = true;
            if ((evs[i].events & EPOLLOUT) && !c->out.empty()) alive = write_out(*c, nullptr, 0);
            // Edge-triggered: read until a short read; answer what each read completed.
            while (alive && (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
                ssize_t r = ::recv(c->fd, rbuf.data(), rbuf.size(), 0);
                if (r < 0 && errno == EINTR) continue;
                if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                if (r <= 0) {
                    alive = false;
                    break;
                }
                out.clear();
                bool ok = true;
                const size_t got = static_cast<size_t>(r);
                if (c->open && c->in.empty()) {  // the usual case: frames straight from rbuf
                    size_t used = echo_frames(rbuf.data(), got, out, ok);
                    if (used < got) c->in.assign(rbuf.data() + used, rbuf.data() + got);
                } else {
                    c->in.insert(c->in.end(), rbuf.data(), rbuf.data() + got);
                    if (!c->open) ok = handshake(*c, out);
                    if (ok && c->open) {
                        size_t used = echo_frames(c->in.data(), c->in.size(), out, ok);
                        c->in.erase(c->in.begin(), c->in.begin() + static_cast<std::ptrdiff_t>(used));
                    }
                }
                if (c->in.size() > kMaxBuffered) ok = false;
                if (!out.empty() && !write_out(*c, out.data(), out.size())) ok = false;
                if (!ok) {
                    alive = false;
                    break;
                }
                if (static_cast<size_t>(r) < rbuf.size()) break;
            }
            if (!alive) close_conn(ep, c);
        }
    }
    return 0;
}
