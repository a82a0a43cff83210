#include "tools/lib/loadgen_tls.h"

#include "net/tls.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <stdexcept>

namespace fasterapi::loadgen {

namespace {

int ssl_index() {
    static const int idx = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return idx;
}

// A ticket arrived (TLS 1.3: after the handshake, with the first application data).
int on_new_session(SSL* ssl, SSL_SESSION* s) {
    auto* client = static_cast<TlsClient*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ssl_index()));
    if (!client) return 0;
    client->keep(s);
    return 1;  // we hold the reference
}

}  // namespace

// The memory BIO: reads take from the bytes handed to feed(), writes append to out.
struct TlsBio {
    static int write(BIO* b, const char* p, int n) {
        auto* s = static_cast<TlsStream*>(BIO_get_data(b));
        s->out.insert(s->out.end(), reinterpret_cast<const uint8_t*>(p), reinterpret_cast<const uint8_t*>(p) + n);
        return n;
    }
    static int read(BIO* b, char* p, int n) {
        auto* s = static_cast<TlsStream*>(BIO_get_data(b));
        BIO_clear_retry_flags(b);
        if (s->in_len_ == 0) {
            BIO_set_retry_read(b);
            return -1;
        }
        size_t k = std::min(s->in_len_, static_cast<size_t>(n));
        std::memcpy(p, s->in_, k);
        s->in_ += k;
        s->in_len_ -= k;
        return static_cast<int>(k);
    }
    static long ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }
    static int create(BIO* b) {
        BIO_set_init(b, 1);
        return 1;
    }
    static const BIO_METHOD* method() {
        static BIO_METHOD* m = [] {
            BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "loadgen-memory");
            BIO_meth_set_write(bm, write);
            BIO_meth_set_read(bm, read);
            BIO_meth_set_ctrl(bm, ctrl);
            BIO_meth_set_create(bm, create);
            return bm;
        }();
        return m;
    }
};

TlsClient::TlsClient(const std::string& host, const std::string& verify_ca, bool resume)
    : host_(host), verify_(!verify_ca.empty()), resume_(resume) {
    in6_addr a6{};
    host_is_ip_ = inet_pton(AF_INET, host.c_str(), &a6) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
    ERR_clear_error();
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) throw std::runtime_error("SSL_CTX_new: " + net::tls_drain_errors());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx_, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_ex_data(ctx_, ssl_index(), this);
    if (verify_) {
        if (SSL_CTX_load_verify_locations(ctx_, verify_ca.c_str(), nullptr) != 1) {
            std::string why = net::tls_drain_errors();
            SSL_CTX_free(ctx_);
            throw std::runtime_error("--verify '" + verify_ca + "': not a PEM certificate bundle (" + why + ")");
        }
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    } else {
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    }
    if (resume_) {
        SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx_, on_new_session);
    } else {
        SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
    }
}

TlsClient::~TlsClient() {
    if (session_) SSL_SESSION_free(session_);
    SSL_CTX_free(ctx_);
}

void TlsClient::keep(SSL_SESSION* s) {
    if (session_) SSL_SESSION_free(session_);
    session_ = s;
}

bool TlsStream::start(TlsClient& client) {
    // The previous connection's SSL is reused (SSL_clear): with OpenSSL 3 a fresh SSL_new costs
    // about as much as the client's share of a resumed handshake.
    reset();
    ERR_clear_error();
    if (!ssl_ || SSL_clear(ssl_) != 1) {
        if (ssl_) SSL_free(ssl_);  // frees the BIO too
        ssl_ = SSL_new(client.ctx());
        BIO* bio = ssl_ ? BIO_new(TlsBio::method()) : nullptr;
        if (!bio) {
            error_ = "SSL_new: " + net::tls_drain_errors();
            if (ssl_) SSL_free(ssl_);
            ssl_ = nullptr;
            return false;
        }
        BIO_set_data(bio, this);
        SSL_set_bio(ssl_, bio, bio);
    }
    SSL_set_connect_state(ssl_);
    static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_set_alpn_protos(ssl_, kAlpn, sizeof kAlpn);
    if (!client.host_is_ip()) SSL_set_tlsext_host_name(ssl_, client.host().c_str());  // no SNI for literals
    if (client.verify()) {
        if (client.host_is_ip()) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), client.host().c_str());
        else SSL_set1_host(ssl_, client.host().c_str());
    }
    SSL_set_session(ssl_, client.session());  // null: a full handshake (SSL_clear may have kept the last session)
    return handshake() != Result::Error;
}

TlsStream::~TlsStream() {
    if (ssl_) SSL_free(ssl_);  // frees the BIO too
}

void TlsStream::reset() {
    established_ = false;
    in_ = nullptr;
    in_len_ = 0;
    out.clear();
    out_off = 0;
    error_.clear();
}

bool TlsStream::resumed() const { return ssl_ && SSL_session_reused(ssl_); }

std::string TlsStream::version() const {
    if (!ssl_) return "";
    return std::string(SSL_get_version(ssl_)) + " " + SSL_get_cipher_name(ssl_);
}

TlsStream::Result TlsStream::fail(int rc) {
    switch (SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ:
        return Result::More;
    case SSL_ERROR_ZERO_RETURN:
        return Result::Closed;
    default:
        error_ = net::tls_drain_errors();
        if (long v = SSL_get_verify_result(ssl_); v != X509_V_OK)
            error_ += std::string(" (certificate: ") + X509_verify_cert_error_string(v) + ")";
        return Result::Error;
    }
}

TlsStream::Result TlsStream::handshake() {
    if (established_) return Result::Done;
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_);
    if (rc == 1) {
        established_ = true;
        return Result::Done;
    }
    return fail(rc);
}

TlsStream::Result TlsStream::read(uint8_t* buf, size_t cap, size_t& n) {
    n = 0;
    net::tls_clear_errors();
    int rc = SSL_read_ex(ssl_, buf, cap, &n) == 1 ? 1 : 0;
    if (rc == 1) return Result::Done;
    return fail(rc);
}

bool TlsStream::write(const uint8_t* p, size_t n) {
    net::tls_clear_errors();
    while (n) {
        size_t w = 0;
        if (SSL_write_ex(ssl_, p, n, &w) != 1) {
            error_ = net::tls_drain_errors();
            return false;
        }
        p += w;
        n -= w;
    }
    return true;
}

void TlsStream::shutdown() {
    if (ssl_ && established_) {
        ERR_clear_error();
        SSL_shutdown(ssl_);
        ERR_clear_error();
    }
}

}  // namespace fasterapi::loadgen
