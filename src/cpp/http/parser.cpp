#include "http/parser.h"

#include <cstdint>
#include <string_view>

namespace fasterapi::http {

namespace {

// Result of one parsing step: keep going, need more bytes, or fail.
enum class Step { Ok, Partial, Fail };

struct Cursor {
    const char* buf;
    size_t len;
    size_t pos = 0;
    Error& err;

    bool at_end() const noexcept { return pos >= len; }
    // Advances over bytes of a character class, stopping at min(len, limit).
    void scan(uint8_t mask, size_t limit) noexcept {
        const size_t end = limit < len ? limit : len;
        while (pos < end && (detail::kChars[static_cast<unsigned char>(buf[pos])] & mask)) ++pos;
    }
    unsigned char peek() const noexcept { return static_cast<unsigned char>(buf[pos]); }
    Step fail(int status, const char* reason) noexcept {
        err.status = status;
        err.reason = reason;
        return Step::Fail;
    }
};

// Calls f(element) for each non-empty element of a comma-separated list
// (RFC 9110 5.6.1: empty elements are ignored), OWS trimmed.
template <class F>
void for_each_element(std::string_view v, F&& f) {
    size_t i = 0;
    while (i <= v.size()) {
        size_t j = v.find(',', i);
        if (j == std::string_view::npos) j = v.size();
        std::string_view e = trim_ows(v.substr(i, j - i));
        if (!e.empty()) f(e);
        i = j + 1;
    }
}

bool valid_host(std::string_view h) noexcept {
    for (char ch : h)
        if (!is_host_char(static_cast<unsigned char>(ch))) return false;
    return true;
}

// host:port with a non-empty host and a decimal port (CONNECT's target).
bool valid_authority_form(std::string_view t) noexcept {
    size_t colon = t.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == t.size()) return false;
    for (size_t i = colon + 1; i < t.size(); ++i)
        if (t[i] < '0' || t[i] > '9') return false;
    for (size_t i = 0; i < colon; ++i) {
        unsigned char c = static_cast<unsigned char>(t[i]);
        if (!is_host_char(c) || c == '@') return false;
    }
    return true;
}

void split_path_query(std::string_view p, Request& req) noexcept {
    size_t q = p.find('?');
    if (q == std::string_view::npos) {
        req.path = p;
        req.query = {};
    } else {
        req.path = p.substr(0, q);
        req.query = p.substr(q + 1);
    }
}

// Classifies request-target (RFC 9112 3.2) and fills path/query.
Step classify_target(Cursor& c, Request& req) noexcept {
    std::string_view t = req.target;
    const bool is_connect = req.method == "CONNECT";
    if (is_connect) {
        if (!valid_authority_form(t)) return c.fail(400, "CONNECT requires an authority-form target");
        req.path = {};
        req.query = {};
        return Step::Ok;
    }
    if (t[0] == '/') {
        split_path_query(t, req);
        return Step::Ok;
    }
    if (t == "*") {
        if (req.method != "OPTIONS") return c.fail(400, "asterisk-form target is only allowed with OPTIONS");
        req.path = t;
        req.query = {};
        return Step::Ok;
    }
    // absolute-form: scheme "://" authority [path-abempty] ["?" query]
    size_t sep = t.find("://");
    if (sep == std::string_view::npos) return c.fail(400, "invalid request target");
    std::string_view scheme = t.substr(0, sep);
    if (!iequals(scheme, "http") && !iequals(scheme, "https"))
        return c.fail(400, "unsupported scheme in absolute-form target");
    std::string_view rest = t.substr(sep + 3);
    size_t end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, end == std::string_view::npos ? rest.size() : end);
    if (authority.empty()) return c.fail(400, "empty authority in absolute-form target");
    if (authority.find('@') != std::string_view::npos)
        return c.fail(400, "userinfo is not allowed in the request target");
    if (!valid_host(authority)) return c.fail(400, "invalid authority in absolute-form target");
    if (end == std::string_view::npos) {
        static constexpr std::string_view kRoot = "/";
        req.path = kRoot;
        req.query = {};
        return Step::Ok;
    }
    std::string_view pq = rest.substr(end);
    if (pq[0] == '?') {
        static constexpr std::string_view kRoot = "/";
        req.path = kRoot;
        req.query = pq.substr(1);
        return Step::Ok;
    }
    split_path_query(pq, req);
    return Step::Ok;
}

// request-line = method SP request-target SP HTTP-version CRLF
Step parse_request_line(Cursor& c, Request& req, const Limits& limits) noexcept {
    const size_t line_start = c.pos;
    // First offset that makes the line too long (saturating).
    const size_t line_limit =
        limits.max_request_line > SIZE_MAX - line_start ? SIZE_MAX : line_start + limits.max_request_line;
    auto too_long = [&] { return c.pos >= line_limit; };

    // method = token
    const size_t m0 = c.pos;
    c.scan(detail::kTchar, line_limit);
    if (c.at_end()) return Step::Partial;
    if (too_long()) return c.fail(414, "request line too long");
    if (c.peek() != ' ') return c.fail(400, "invalid character in method");
    if (c.pos == m0) return c.fail(400, "empty method");
    req.method = std::string_view(c.buf + m0, c.pos - m0);
    ++c.pos;

    // request-target: visible ASCII, no fragment
    const size_t t0 = c.pos;
    c.scan(detail::kTarget, line_limit);
    if (c.at_end()) return Step::Partial;
    if (too_long()) return c.fail(414, "request line too long");
    if (c.peek() != ' ') return c.fail(400, "invalid character in request target");
    if (c.pos == t0) return c.fail(400, "empty request target");
    req.target = std::string_view(c.buf + t0, c.pos - t0);
    ++c.pos;
    if (Step s = classify_target(c, req); s != Step::Ok) return s;

    // HTTP-version = "HTTP/" DIGIT "." DIGIT  (case-sensitive)
    static constexpr std::string_view kPrefix = "HTTP/";
    for (char want : kPrefix) {
        if (c.at_end()) return Step::Partial;
        if (too_long()) return c.fail(414, "request line too long");
        if (c.peek() != static_cast<unsigned char>(want)) return c.fail(400, "invalid HTTP version");
        ++c.pos;
    }
    int major = 0;
    for (int k = 0; k < 3; ++k) {  // DIGIT "." DIGIT
        if (c.at_end()) return Step::Partial;
        if (too_long()) return c.fail(414, "request line too long");
        unsigned char ch = c.peek();
        if (k == 1) {
            if (ch != '.') return c.fail(400, "invalid HTTP version");
        } else {
            if (ch < '0' || ch > '9') return c.fail(400, "invalid HTTP version");
            if (k == 0) {
                major = ch - '0';
            } else if (major != 1 || ch > '1') {
                return c.fail(505, "HTTP version not supported");
            } else {
                req.version_minor = ch - '0';
            }
        }
        ++c.pos;
    }
    if (c.at_end()) return Step::Partial;
    if (c.peek() != '\r') {
        if (c.peek() == '\n') return c.fail(400, "bare LF in request line");
        return c.fail(400, "invalid HTTP version");
    }
    ++c.pos;
    if (c.at_end()) return Step::Partial;
    if (c.peek() != '\n') return c.fail(400, "bare CR in request line");
    ++c.pos;
    return Step::Ok;
}

// field-line = field-name ":" OWS field-value OWS CRLF, up to the empty line.
Step parse_fields(Cursor& c, Request& req, const Limits& limits) noexcept {
    const size_t max_fields = limits.max_headers < kMaxHeadersHardCap ? limits.max_headers : kMaxHeadersHardCap;
    auto too_big = [&] { return c.pos >= limits.max_header_bytes; };
    for (;;) {
        if (c.at_end()) return Step::Partial;
        if (too_big()) return c.fail(431, "request header fields too large");
        unsigned char ch = c.peek();
        if (ch == '\r') {
            ++c.pos;
            if (c.at_end()) return Step::Partial;
            if (too_big()) return c.fail(431, "request header fields too large");
            if (c.peek() != '\n') return c.fail(400, "bare CR in header section");
            ++c.pos;
            return Step::Ok;
        }
        if (ch == '\n') return c.fail(400, "bare LF in header section");
        if (ch == ' ' || ch == '\t') {
            // RFC 9112 5.2 (obs-fold) / 2.2 (whitespace before the first field)
            return c.fail(400, req.num_headers ? "obsolete line folding is not allowed"
                                               : "whitespace before the first header field");
        }
        if (req.num_headers >= max_fields) return c.fail(431, "too many header fields");

        const size_t n0 = c.pos;
        c.scan(detail::kTchar, limits.max_header_bytes);
        if (c.at_end()) return Step::Partial;
        if (too_big()) return c.fail(431, "request header fields too large");
        ch = c.peek();
        if (ch != ':') {
            if (ch == ' ' || ch == '\t') return c.fail(400, "whitespace before colon in header field");
            return c.fail(400, "invalid character in header name");
        }
        if (c.pos == n0) return c.fail(400, "empty header name");
        std::string_view name(c.buf + n0, c.pos - n0);
        ++c.pos;

        // OWS field-value OWS: v0..v1 is the value without surrounding whitespace.
        c.scan(detail::kWs, limits.max_header_bytes);
        const size_t v0 = c.pos;
        c.scan(detail::kValue, limits.max_header_bytes);
        if (c.at_end()) return Step::Partial;
        if (too_big()) return c.fail(431, "request header fields too large");
        ch = c.peek();
        if (ch != '\r') {
            if (ch == '\n') return c.fail(400, "bare LF in header section");
            return c.fail(400, "invalid character in header value");
        }
        size_t v1 = c.pos;
        while (v1 > v0 && (c.buf[v1 - 1] == ' ' || c.buf[v1 - 1] == '\t')) --v1;
        ++c.pos;  // CR
        if (c.at_end()) return Step::Partial;
        if (too_big()) return c.fail(431, "request header fields too large");
        if (c.peek() != '\n') return c.fail(400, "bare CR in header value");
        ++c.pos;
        Header& h = req.headers[req.num_headers++];
        h.name = name;
        h.value = std::string_view(c.buf + v0, v1 - v0);
    }
}

// Content-Length = 1*DIGIT, at most 2^63 - 1.
bool parse_content_length(std::string_view v, uint64_t& out) noexcept {
    if (v.empty()) return false;
    uint64_t n = 0;
    constexpr uint64_t kMax = (uint64_t{1} << 63) - 1;
    for (char ch : v) {
        if (ch < '0' || ch > '9') return false;
        auto d = static_cast<uint64_t>(ch - '0');
        if (n > (kMax - d) / 10) return false;
        n = n * 10 + d;
    }
    out = n;
    return true;
}

// Derives framing and connection facts from the complete field section.
Step derive(Cursor& c, Request& req) noexcept {
    size_t hosts = 0, lengths = 0;
    bool has_te = false, te_chunked_last = false, te_bad = false, te_unknown = false;
    bool conn_close = false, conn_keep_alive = false, conn_upgrade = false, upgrade_ws = false;
    bool expect_other = false;
    std::string_view host;

    for (size_t i = 0; i < req.num_headers; ++i) {
        const Header& h = req.headers[i];
        const std::string_view n = h.name;
        switch (n.size()) {
            case 4:
                if (iequals(n, "host")) {
                    ++hosts;
                    host = h.value;
                }
                break;
            case 6:
                if (iequals(n, "expect")) {
                    for_each_element(h.value, [&](std::string_view e) {
                        if (iequals(e, "100-continue"))
                            req.expect_continue = true;
                        else
                            expect_other = true;
                    });
                }
                break;
            case 7:
                if (iequals(n, "upgrade")) {
                    for_each_element(h.value, [&](std::string_view e) {
                        if (iequals(e, "websocket")) upgrade_ws = true;
                    });
                }
                break;
            case 10:
                if (iequals(n, "connection")) {
                    for_each_element(h.value, [&](std::string_view e) {
                        if (iequals(e, "close"))
                            conn_close = true;
                        else if (iequals(e, "keep-alive"))
                            conn_keep_alive = true;
                        else if (iequals(e, "upgrade"))
                            conn_upgrade = true;
                    });
                }
                break;
            case 14:
                if (iequals(n, "content-length")) {
                    if (++lengths > 1) return c.fail(400, "multiple Content-Length headers");
                    if (!parse_content_length(h.value, req.content_length))
                        return c.fail(400, "invalid Content-Length");
                    req.has_content_length = true;
                }
                break;
            case 17:
                if (iequals(n, "transfer-encoding")) {
                    has_te = true;
                    // Codings across all fields form one list; chunked must be
                    // the last and appear once (RFC 9112 6.1).
                    for_each_element(h.value, [&](std::string_view e) {
                        if (te_chunked_last) te_bad = true;  // something after chunked
                        if (iequals(e, "chunked"))
                            te_chunked_last = true;
                        else
                            te_unknown = true;
                    });
                }
                break;
            default:
                break;
        }
    }

    if (hosts > 1) return c.fail(400, "multiple Host headers");
    if (hosts == 0 && req.version_minor == 1) return c.fail(400, "missing Host header");
    if (hosts == 1 && !valid_host(host)) return c.fail(400, "invalid Host header");
    if (has_te) {
        if (req.version_minor == 0) return c.fail(400, "Transfer-Encoding in an HTTP/1.0 request");
        if (req.has_content_length) return c.fail(400, "both Transfer-Encoding and Content-Length");
        if (te_bad || !te_chunked_last) return c.fail(400, "chunked must be the final transfer coding");
        if (te_unknown) return c.fail(501, "unsupported transfer coding");
        req.chunked = true;
    }
    if (expect_other) return c.fail(417, "unsupported expectation");
    if (req.version_minor == 0) req.expect_continue = false;  // RFC 9110 10.1.1
    req.keep_alive = req.version_minor == 1 ? !conn_close : (conn_keep_alive && !conn_close);
    req.upgrade_websocket = conn_upgrade && upgrade_ws;
    return Step::Ok;
}

void reset(Request& req) noexcept {
    req.method = req.target = req.path = req.query = {};
    req.version_minor = 1;
    req.num_headers = 0;
    req.keep_alive = true;
    req.chunked = false;
    req.has_content_length = false;
    req.content_length = 0;
    req.expect_continue = false;
    req.upgrade_websocket = false;
}

}  // namespace

long parse_request_head(const char* buf, size_t len, Request& req, const Limits& limits,
                        Error& err) noexcept {
    reset(req);
    err = Error{};
    Cursor c{buf, len, 0, err};

    // RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request-line.
    for (int skipped = 0;; ++skipped) {
        if (c.at_end()) return -2;
        if (c.peek() == '\n') {
            c.fail(400, "bare LF before request line");
            return -1;
        }
        if (c.peek() != '\r') break;
        if (skipped == kMaxLeadingEmptyLines) {
            c.fail(400, "too many empty lines before request line");
            return -1;
        }
        ++c.pos;
        if (c.at_end()) return -2;
        if (c.peek() != '\n') {
            c.fail(400, "bare CR before request line");
            return -1;
        }
        ++c.pos;
    }

    Step s = parse_request_line(c, req, limits);
    if (s == Step::Ok) s = parse_fields(c, req, limits);
    if (s == Step::Ok) s = derive(c, req);
    switch (s) {
        case Step::Ok:
            return static_cast<long>(c.pos);
        case Step::Partial:
            return -2;
        case Step::Fail:
            break;
    }
    return -1;
}

}  // namespace fasterapi::http
