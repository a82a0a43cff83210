// Listening socket and accept: bind/listen with clear errors (or adopt an inherited
// listening socket, e.g. a Unix socket), refusal when full, one Connection (with a
// TLS session when TLS is on) per accepted socket.
#include "net/connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <string>
#include <stdexcept>
#include <system_error>

namespace fasterapi::net {

void Server::reload_tls(const TlsConfig& cfg) {
    if (!tls_) throw std::logic_error("this server does not serve TLS: nothing to reload");
    try {
        tls_ = std::make_unique<TlsContext>(cfg);
    } catch (...) {
        stats_.tls_reload_failures++;
        throw;
    }
    cfg_.tls = cfg;
    stats_.tls_reloads++;
}

void Server::listen() {
    if (cfg_.tls.enabled()) tls_ = std::make_unique<TlsContext>(cfg_.tls);  // file errors before binding
    if (cfg_.fd >= 0) {
        adopt_listener();
    } else {
        bind_listener();
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenTag;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, listen_fd_, &ev);
}

// A duplicate of cfg_.fd, so whoever handed it over keeps (and closes) its own.
void Server::adopt_listener() {
    int accepting = 0;
    socklen_t len = sizeof accepting;
    if (getsockopt(cfg_.fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting)
        throw std::system_error(errno ? errno : EINVAL, std::generic_category(),
                                "fd " + std::to_string(cfg_.fd) + " is not a listening socket");
    int fd = fcntl(cfg_.fd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "dup of the listening socket");
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    listen_fd_ = fd;
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl);
    if (ss.ss_family == AF_INET6) port_ = ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    else if (ss.ss_family == AF_INET) port_ = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

void Server::bind_listener() {
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
}

void Server::on_accept() {
    for (int i = 0; i < 256; ++i) {
        sockaddr_storage ss{};
        socklen_t sl = sizeof ss;
        int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        if (shutting_down_ || conns_.size() >= cfg_.max_connections) {
            // Refuse cleanly: a 503 costs one write and tells a client why (a TLS
            // client could not read it: it just sees the close).
            static constexpr char kFull[] =
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            if (!tls_) {
                ssize_t w = ::write(fd, kFull, sizeof kFull - 1);
                (void)w;
            }
            ::close(fd);
            stats_.refused_full++;
            continue;
        }
        SSL* ssl = nullptr;
        if (tls_ && !(ssl = tls_->accept(fd))) {
            ::close(fd);
            stats_.tls_errors++;
            continue;
        }
        int one = 1;
        if (ss.ss_family != AF_UNIX) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto* c = new Connection();
        c->id = next_id_++;
        c->fd = fd;
        c->ssl = ssl;
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
        if (ss.ss_family != AF_UNIX) c->peer = std::string(host) + ":" + std::to_string(port);
        // The request timeout covers the TLS handshake too: a peer that never sends a
        // ClientHello is closed like any slow request head.
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

}  // namespace fasterapi::net
