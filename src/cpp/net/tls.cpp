#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <climits>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace fasterapi::net {

namespace {

// Records are at most 16 KiB of plaintext: a read stops before a record could overflow buf.
constexpr size_t kMaxRecord = 16384;

std::string quoted(const char* option, const std::string& path) {
    return std::string(option) + " '" + path + "'";
}

void check_readable(const char* option, const std::string& path) {
    if (::access(path.c_str(), R_OK) != 0)
        throw std::invalid_argument(quoted(option, path) + ": " + std::strerror(errno));
}

// "-----BEGIN ENCRYPTED PRIVATE KEY-----" (PKCS#8) or "Proc-Type: 4,ENCRYPTED" (traditional PEM).
bool pem_is_encrypted(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::string head(4096, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<size_t>(in.gcount()));
    return head.find("ENCRYPTED") != std::string::npos;
}

// Never prompts on the terminal (OpenSSL's default): no password means none.
int password_cb(char* buf, int size, int, void* userdata) {
    const auto* pw = static_cast<const std::string*>(userdata);
    if (!pw || pw->empty() || static_cast<int>(pw->size()) > size) return 0;
    std::memcpy(buf, pw->data(), pw->size());
    return static_cast<int>(pw->size());
}

// ALPN (RFC 7301): pick http/1.1 when offered; a client offering only other protocols
// proceeds without ALPN rather than failing (it may still speak HTTP/1.1).
int alpn_select(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
    static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* sel = nullptr;
    if (SSL_select_next_proto(&sel, outlen, kHttp11, sizeof kHttp11, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = sel;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

TlsIo failure(SSL* ssl, int rc) {
    TlsIo io;
    switch (SSL_get_error(ssl, rc)) {
        case SSL_ERROR_WANT_READ:
            io.status = TlsStatus::WantRead;
            return io;
        case SSL_ERROR_WANT_WRITE:
            io.status = TlsStatus::WantWrite;
            return io;
        case SSL_ERROR_ZERO_RETURN:  // close_notify (or EOF, with SSL_OP_IGNORE_UNEXPECTED_EOF)
            io.status = TlsStatus::Eof;
            return io;
        case SSL_ERROR_SYSCALL:
            if (errno == EAGAIN || errno == EWOULDBLOCK) {  // defensive: treat as a retry
                io.status = TlsStatus::WantRead;
                return io;
            }
            io.status = TlsStatus::Error;
            io.error = errno ? std::strerror(errno) : "connection closed";
            ERR_clear_error();
            return io;
        default:
            io.status = TlsStatus::Error;
            io.plain_http = ERR_GET_REASON(ERR_peek_error()) == SSL_R_HTTP_REQUEST;
            io.error = tls_drain_errors();
            return io;
    }
}

}  // namespace

TlsContext::TlsContext(const TlsConfig& cfg) {
    const std::string& keyfile = cfg.keyfile.empty() ? cfg.certfile : cfg.keyfile;
    const char* key_option = cfg.keyfile.empty() ? "ssl_certfile" : "ssl_keyfile";
    check_readable("ssl_certfile", cfg.certfile);
    check_readable(key_option, keyfile);
    if (!cfg.ca_certs.empty()) check_readable("ssl_ca_certs", cfg.ca_certs);
    if (cfg.cert_reqs < 0 || cfg.cert_reqs > 2)
        throw std::invalid_argument("ssl_cert_reqs must be 0 (none), 1 (optional) or 2 (required)");
    if (cfg.cert_reqs > 0 && cfg.ca_certs.empty())
        throw std::invalid_argument("ssl_cert_reqs " + std::to_string(cfg.cert_reqs) +
                                    " verifies client certificates: give ssl_ca_certs too");
    if (!cfg.ticket_key.empty() && cfg.ticket_key.size() != 80)
        throw std::invalid_argument("the TLS session ticket key must be 80 bytes");
    ERR_clear_error();
    ctx_ = SSL_CTX_new(TLS_server_method());
    if (!ctx_) throw std::runtime_error("SSL_CTX_new failed: " + tls_drain_errors());
    try {
        SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
        SSL_CTX_set_options(ctx_, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                      SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
        // Idle sessions give their ~17 KiB record buffers back after each record; a busy one
        // keeps them (tls_hold_buffers, decided by the timer tick), because freeing and
        // reallocating both per record is ~8% of the user-space cost of a small echo.
        SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                   SSL_MODE_RELEASE_BUFFERS);
        // One read() per batch of records instead of two per record (header, body) plus an
        // EAGAIN: what is read ahead is drained by tls_read, or reported by tls_pending.
        SSL_CTX_set_read_ahead(ctx_, 1);
        SSL_CTX_set_default_passwd_cb(ctx_, password_cb);
        SSL_CTX_set_default_passwd_cb_userdata(ctx_, const_cast<std::string*>(&cfg.password));
        if (SSL_CTX_use_certificate_chain_file(ctx_, cfg.certfile.c_str()) != 1)
            throw std::invalid_argument(quoted("ssl_certfile", cfg.certfile) +
                                        ": not a PEM certificate chain (" + tls_drain_errors() + ")");
        const std::string mismatch = quoted(key_option, keyfile) + " does not match the certificate in " +
                                     quoted("ssl_certfile", cfg.certfile);
        if (SSL_CTX_use_PrivateKey_file(ctx_, keyfile.c_str(), SSL_FILETYPE_PEM) != 1) {
            std::string why = tls_drain_errors();
            if (why.find("key values mismatch") != std::string::npos) throw std::invalid_argument(mismatch);
            // OpenSSL's error for a missing or wrong password varies with the key format and
            // its decoders; the PEM header says reliably whether the key is encrypted.
            bool bad_password = pem_is_encrypted(keyfile);
            std::string hint = !bad_password       ? "not a PEM private key"
                               : cfg.password.empty() ? "the key is encrypted: give ssl_keyfile_password"
                                                      : "wrong ssl_keyfile_password";
            throw std::invalid_argument(quoted(key_option, keyfile) + ": " + hint + " (" + why + ")");
        }
        if (SSL_CTX_check_private_key(ctx_) != 1) throw std::invalid_argument(mismatch);
        SSL_CTX_set_default_passwd_cb_userdata(ctx_, nullptr);  // cfg.password need not outlive this
        if (!cfg.ciphers.empty() && SSL_CTX_set_cipher_list(ctx_, cfg.ciphers.c_str()) != 1)
            throw std::invalid_argument("ssl_ciphers '" + cfg.ciphers + "': no usable cipher (" +
                                        tls_drain_errors() + ")");
        if (!cfg.ca_certs.empty()) {
            if (SSL_CTX_load_verify_locations(ctx_, cfg.ca_certs.c_str(), nullptr) != 1)
                throw std::invalid_argument(quoted("ssl_ca_certs", cfg.ca_certs) +
                                            ": not a PEM certificate bundle (" + tls_drain_errors() + ")");
            if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(cfg.ca_certs.c_str()))
                SSL_CTX_set_client_CA_list(ctx_, names);
        }
        int verify = cfg.cert_reqs == 0   ? SSL_VERIFY_NONE
                     : cfg.cert_reqs == 1 ? SSL_VERIFY_PEER
                                          : SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(ctx_, verify, nullptr);
        SSL_CTX_set_alpn_select_cb(ctx_, alpn_select, nullptr);
        // Resumption: stateless tickets (TLS 1.3 and 1.2) plus a server-side cache for
        // TLS 1.2 session ids; the id context is required once client certificates are used.
        SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_cache_size(ctx_, 4096);  // ~1 KiB each: bounded, not OpenSSL's 20480
        static const unsigned char kSidCtx[] = "fasterapi";
        SSL_CTX_set_session_id_context(ctx_, kSidCtx, sizeof kSidCtx - 1);
        SSL_CTX_set_num_tickets(ctx_, 1);  // one ticket per handshake: clients reuse it once
        if (!cfg.ticket_key.empty())
            SSL_CTX_set_tlsext_ticket_keys(ctx_, const_cast<char*>(cfg.ticket_key.data()),
                                           static_cast<long>(cfg.ticket_key.size()));
    } catch (...) {
        SSL_CTX_free(ctx_);
        ctx_ = nullptr;
        throw;
    }
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

SSL* TlsContext::accept(int fd) const {
    SSL* ssl = SSL_new(ctx_);
    if (!ssl) return nullptr;
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return nullptr;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

namespace {

// Repeats `op(offset)` (one SSL_read or SSL_write) while `more(offset)` holds and it makes progress.
template <class Op, class More>
TlsIo repeat_io(SSL* ssl, Op op, More more) {
    TlsIo io;
    while (more(io.bytes)) {
        tls_clear_errors();
        int n = op(io.bytes);
        if (n > 0) {
            io.bytes += static_cast<size_t>(n);
            continue;
        }
        TlsIo f = failure(ssl, n);
        f.bytes = io.bytes;
        return f;
    }
    return io;
}

int clamp_int(size_t n) { return static_cast<int>(std::min<size_t>(n, INT_MAX)); }

}  // namespace

TlsIo tls_read(SSL* ssl, void* buf, size_t len) {
    auto* p = static_cast<char*>(buf);
    // Stops with Ok when buf is full (more may be waiting in the socket).
    TlsIo io = repeat_io(
        ssl, [&](size_t off) { return SSL_read(ssl, p + off, clamp_int(len - off)); },
        [&](size_t off) { return off + kMaxRecord <= len && (off == 0 || SSL_has_pending(ssl)); });
    // Stopped because OpenSSL has nothing left: no extra read() just to see EAGAIN (epoll is
    // level-triggered, so whatever is still in the socket is reported again).
    if (io.status == TlsStatus::Ok && io.bytes && !SSL_has_pending(ssl)) io.status = TlsStatus::WantRead;
    return io;
}

bool tls_pending(SSL* ssl) { return SSL_has_pending(ssl) == 1; }

void tls_hold_buffers(SSL* ssl, bool hold) {
    if (hold) {
        SSL_clear_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
        return;
    }
    SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
    // Free them now if nothing is in them; otherwise OpenSSL does after the next record.
    // Never with unread bytes (read-ahead): before OpenSSL 3.0.14 (CVE-2024-4741)
    // SSL_free_buffers could free a half-processed record.
    if (!SSL_has_pending(ssl)) SSL_free_buffers(ssl);
}

TlsIo tls_write(SSL* ssl, const void* buf, size_t len) {
    const auto* p = static_cast<const char*>(buf);
    return repeat_io(
        ssl, [&](size_t off) { return SSL_write(ssl, p + off, clamp_int(len - off)); },
        [&](size_t off) { return off < len; });
}

void tls_shutdown(SSL* ssl) {
    if (!SSL_is_init_finished(ssl)) return;
    ERR_clear_error();
    SSL_shutdown(ssl);  // a full socket just loses it: we are closing anyway
    ERR_clear_error();
}

void tls_free(SSL* ssl) { SSL_free(ssl); }

void tls_clear_errors() {
    if (ERR_peek_error() != 0) ERR_clear_error();
}

std::string tls_drain_errors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? "unknown OpenSSL error" : out;
}

}  // namespace fasterapi::net
