// TLS as a transport beneath the connection (OpenSSL libssl): a server context
// built once from certificate/key files, and non-blocking record I/O on a
// connection's socket. HTTP, WebSocket and SSE code never sees it: transport.cpp
// calls tls_read/tls_write instead of read/writev when a connection has a session.
#pragma once
#include <cstddef>
#include <string>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace fasterapi::net {

// Names and meanings follow uvicorn's --ssl-* options (Python's ssl module).
struct TlsConfig {
    std::string certfile;   // PEM chain, leaf first; empty: TLS off
    std::string keyfile;    // PEM private key; empty: the key is in certfile
    std::string password;   // for an encrypted keyfile
    std::string ca_certs;   // PEM bundle to verify client certificates (mutual TLS)
    std::string ciphers;    // OpenSSL cipher list for TLS 1.2; empty: OpenSSL's default
    int cert_reqs = 0;      // 0 CERT_NONE, 1 CERT_OPTIONAL, 2 CERT_REQUIRED (client certificates)
    std::string ticket_key; // 80 bytes shared by workers so tickets resume on any of them; empty: per process
    bool enabled() const noexcept { return !certfile.empty(); }
};

// A server SSL_CTX: TLS 1.2 and 1.3 only, ALPN "http/1.1", session tickets and a
// session cache on, renegotiation off, partial writes with a movable buffer (the
// connection's output buffer may be compacted between retries), buffers released
// while idle. The constructor loads and checks everything and throws
// std::invalid_argument with a message naming the file or option at fault.
class TlsContext {
   public:
    explicit TlsContext(const TlsConfig& cfg);
    ~TlsContext();
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;
    // A server-side session on a connected non-blocking socket (nullptr when out of memory).
    SSL* accept(int fd) const;

   private:
    SSL_CTX* ctx_ = nullptr;
};

enum class TlsStatus { Ok, WantRead, WantWrite, Eof, Error };

struct TlsIo {
    size_t bytes = 0;
    TlsStatus status = TlsStatus::Ok;
    bool plain_http = false;  // Error: the peer spoke plain HTTP to the TLS port
    std::string error;        // Error: OpenSSL's reason, one line
};

// Reads as many whole records as fit into buf. WantRead: everything OpenSSL had is in buf
// (the socket may still hold more: epoll says so); Ok: buf is full.
TlsIo tls_read(SSL* ssl, void* buf, size_t len);
// Bytes read ahead from the socket and not yet returned: epoll cannot report them.
bool tls_pending(SSL* ssl);
// Record buffers (~17 KiB each way): a busy session holds them (hold=true); an idle one
// (hold=false, the default) frees them now if empty and after each record from then on.
void tls_hold_buffers(SSL* ssl, bool hold);
// Writes len bytes (or a prefix of them); what was not written must be offered
// again, starting with the same bytes, on the next call.
TlsIo tls_write(SSL* ssl, const void* buf, size_t len);
// Sends close_notify once the handshake is done (best effort, never blocks).
void tls_shutdown(SSL* ssl);
// This thread's OpenSSL error queue as one line ("; "-separated), emptied.
std::string tls_drain_errors();
// Empties this thread's error queue before an I/O call (SSL_get_error needs it empty). Only when
// something is queued: ERR_clear_error wipes all 16 slots every call, the costliest OpenSSL symbol
// per small record, while a peek at an empty queue is one load.
void tls_clear_errors();
void tls_free(SSL* ssl);

}  // namespace fasterapi::net
