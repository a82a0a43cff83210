// The load generator's TLS client (OpenSSL libssl) over memory, not over the socket:
// the engine recv()s ciphertext itself and hands it to feed(), and sends what the
// session appends to out. So a TLS connection costs the same syscalls as a plain one
// (one recv per readable edge, one send per flush) and stays inside the epoll loop:
// the handshake is just bytes in, bytes out.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_session_st SSL_SESSION;

namespace fasterapi::loadgen {

// One per worker thread. No certificate verification unless verify_ca names a PEM bundle
// (then the peer's certificate must chain to it and match host). With resume, every new
// session ticket the server sends replaces the saved session, and new connections offer it.
class TlsClient {
public:
    TlsClient(const std::string& host, const std::string& verify_ca, bool resume);  // throws std::runtime_error
    ~TlsClient();
    TlsClient(const TlsClient&) = delete;
    TlsClient& operator=(const TlsClient&) = delete;
    SSL_CTX* ctx() const { return ctx_; }
    const std::string& host() const { return host_; }
    bool host_is_ip() const { return host_is_ip_; }
    bool verify() const { return verify_; }
    SSL_SESSION* session() const { return session_; }  // may be null (no ticket yet)
    void keep(SSL_SESSION* s);                          // takes the reference

private:
    SSL_CTX* ctx_ = nullptr;
    SSL_SESSION* session_ = nullptr;
    std::string host_;
    bool host_is_ip_ = false, verify_ = false, resume_ = false;
};

// One client session. Not copyable; reset() ends a connection, start() begins the next on the same SSL.
class TlsStream {
public:
    enum class Result { More, Done, Closed, Error };  // read(): More = need input, Done = got bytes

    TlsStream() = default;
    ~TlsStream();
    TlsStream(const TlsStream&) = delete;
    TlsStream& operator=(const TlsStream&) = delete;

    // Starts a handshake: the ClientHello is appended to out.
    bool start(TlsClient& client);
    void reset();  // drops the connection's state and buffers; keeps the SSL for the next start()
    bool established() const { return established_; }
    bool resumed() const;
    std::string version() const;  // "TLSv1.3", cipher after a space
    const std::string& error() const { return error_; }

    // Ciphertext from the socket; must be drained with handshake()/read() before the next feed.
    void feed(const uint8_t* p, size_t n) {
        in_ = p;
        in_len_ = n;
    }
    // Advances the handshake: Done once established, More while it needs input.
    Result handshake();
    // Plaintext into buf: Done with n > 0, More when the input is used up, Closed on close_notify.
    Result read(uint8_t* buf, size_t cap, size_t& n);
    // Encrypts n bytes onto out (a memory write: never short).
    bool write(const uint8_t* p, size_t n);
    // Queues close_notify (once established).
    void shutdown();

    // Ciphertext to send, from out_off.
    std::vector<uint8_t> out;
    size_t out_off = 0;

private:
    friend struct TlsBio;
    Result fail(int rc);
    SSL* ssl_ = nullptr;
    const uint8_t* in_ = nullptr;
    size_t in_len_ = 0;
    bool established_ = false;
    std::string error_;
};

}  // namespace fasterapi::loadgen
