// Request head parser: every rule of RFC 9112/9110 the parser enforces, each
// vector also parsed at every prefix (what one-byte-at-a-time delivery gives a
// restartable parser). Inputs sit right before a PROT_NONE page, so any read
// past the end crashes the test.
#include "http/parser.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

using namespace fasterapi::http;
using namespace std::string_literals;

namespace {

// Holds a copy of the input ending exactly at a PROT_NONE guard page.
class Guarded {
public:
    explicit Guarded(std::string_view s) {
        const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
        data_pages_ = (s.size() + page - 1) / page;
        if (data_pages_ == 0) data_pages_ = 1;
        size_ = (data_pages_ + 1) * page;
        void* m = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) throw std::runtime_error("mmap failed");
        base_ = static_cast<char*>(m);
        if (mprotect(base_ + data_pages_ * page, page, PROT_NONE) != 0) throw std::runtime_error("mprotect failed");
        ptr_ = base_ + data_pages_ * page - s.size();
        if (!s.empty()) std::memcpy(ptr_, s.data(), s.size());
        len_ = s.size();
    }
    ~Guarded() { munmap(base_, size_); }
    Guarded(const Guarded&) = delete;
    Guarded& operator=(const Guarded&) = delete;
    const char* data() const { return ptr_; }
    size_t size() const { return len_; }

private:
    char* base_ = nullptr;
    char* ptr_ = nullptr;
    size_t size_ = 0, data_pages_ = 0, len_ = 0;
};

// An owning copy of everything parse_request_head reports.
struct Snapshot {
    long r = 0;
    int status = 0;
    std::string reason;
    std::string method, target, path, query;
    int version_minor = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    bool keep_alive = false, chunked = false, has_content_length = false, expect_continue = false,
         upgrade_websocket = false;
    uint64_t content_length = 0;

    bool operator==(const Snapshot&) const = default;
};

Snapshot parse(std::string_view input, const Limits& limits = {}) {
    Guarded g(input);
    static Request req;  // large (256 headers); reused to also prove reset between calls
    Error err;
    Snapshot s;
    s.r = parse_request_head(g.data(), g.size(), req, limits, err);
    if (s.r == -1) {
        s.status = err.status;
        s.reason = err.reason;
        return s;
    }
    if (s.r < 0) return s;
    // Every view must point into the input (or be the static "/").
    auto inside = [&](std::string_view v) {
        return v.empty() || v == "/" || (v.data() >= g.data() && v.data() + v.size() <= g.data() + g.size());
    };
    EXPECT_TRUE(inside(req.method) && inside(req.target) && inside(req.path) && inside(req.query));
    s.method = req.method;
    s.target = req.target;
    s.path = req.path;
    s.query = req.query;
    s.version_minor = req.version_minor;
    for (size_t i = 0; i < req.num_headers; ++i) {
        EXPECT_TRUE(inside(req.headers[i].name) && inside(req.headers[i].value));
        s.headers.emplace_back(req.headers[i].name, req.headers[i].value);
    }
    s.keep_alive = req.keep_alive;
    s.chunked = req.chunked;
    s.has_content_length = req.has_content_length;
    s.content_length = req.content_length;
    s.expect_continue = req.expect_continue;
    s.upgrade_websocket = req.upgrade_websocket;
    return s;
}

// Parses the whole input, then every prefix: a prefix must report -2 or the
// very same outcome (an error is reported at the byte that causes it, a
// complete head once its last byte is there).
Snapshot parse_checked(std::string_view input, const Limits& limits = {}) {
    Snapshot full = parse(input, limits);
    bool decided = false;
    for (size_t k = 0; k < input.size(); ++k) {
        Snapshot p = parse(input.substr(0, k), limits);
        if (p.r == -2) {
            EXPECT_FALSE(decided) << "prefix " << k << " went back to partial";
            if (full.r > 0) {
                EXPECT_LT(k, static_cast<size_t>(full.r));
            }
            continue;
        }
        decided = true;
        EXPECT_EQ(p, full) << "prefix " << k << " of " << testing::PrintToString(std::string(input))
                           << " gave r=" << p.r << " status=" << p.status << " reason=" << p.reason;
    }
    return full;
}

Snapshot ok(std::string_view input, const Limits& limits = {}) {
    Snapshot s = parse_checked(input, limits);
    EXPECT_GT(s.r, 0) << "status " << s.status << " " << s.reason << " for "
                      << testing::PrintToString(std::string(input));
    return s;
}

void bad(std::string_view input, int status, const Limits& limits = {}) {
    Snapshot s = parse_checked(input, limits);
    EXPECT_EQ(s.r, -1) << testing::PrintToString(std::string(input));
    EXPECT_EQ(s.status, status) << s.reason << " for " << testing::PrintToString(std::string(input));
    EXPECT_STRNE(s.reason.c_str(), "");
}

std::string get(std::string_view extra_headers, std::string_view target = "/") {
    return "GET " + std::string(target) + " HTTP/1.1\r\nHost: example.com\r\n" + std::string(extra_headers) + "\r\n";
}

}  // namespace

TEST(HttpParser, SimpleGet) {
    std::string in = "GET /hello/world?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n";
    Snapshot s = ok(in);
    EXPECT_EQ(s.r, static_cast<long>(in.size()));
    EXPECT_EQ(s.method, "GET");
    EXPECT_EQ(s.target, "/hello/world?x=1&y=2");
    EXPECT_EQ(s.path, "/hello/world");
    EXPECT_EQ(s.query, "x=1&y=2");
    EXPECT_EQ(s.version_minor, 1);
    ASSERT_EQ(s.headers.size(), 2u);
    EXPECT_EQ(s.headers[0], (std::pair<std::string, std::string>{"Host", "example.com"}));
    EXPECT_EQ(s.headers[1], (std::pair<std::string, std::string>{"User-Agent", "t"}));
    EXPECT_TRUE(s.keep_alive);
    EXPECT_FALSE(s.chunked);
    EXPECT_FALSE(s.has_content_length);
    EXPECT_FALSE(s.expect_continue);
    EXPECT_FALSE(s.upgrade_websocket);
}

TEST(HttpParser, EmptyInputIsPartial) {
    EXPECT_EQ(parse("").r, -2);
    EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n").r, -2);
    EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n\r").r, -2);
}

TEST(HttpParser, ValueWhitespaceTrimmedAndEmptyValues) {
    Snapshot s = ok(get("A:   spaced  value \t\r\nB:\r\nC: \t \r\nD:\tx\ty\r\n"));
    ASSERT_EQ(s.headers.size(), 5u);
    EXPECT_EQ(s.headers[1].second, "spaced  value");
    EXPECT_EQ(s.headers[2].second, "");
    EXPECT_EQ(s.headers[3].second, "");
    EXPECT_EQ(s.headers[4].second, "x\ty");
}

TEST(HttpParser, ObsTextInValueAccepted) {
    Snapshot s = ok(get("X-Name: caf\xc3\xa9 \x80\xff\r\n"));
    EXPECT_EQ(s.headers[1].second, "caf\xc3\xa9 \x80\xff");
}

TEST(HttpParser, Pipelined) {
    std::string a = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    std::string b = "GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    Snapshot s = ok(a + b);
    EXPECT_EQ(s.r, static_cast<long>(a.size()));
    EXPECT_EQ(s.path, "/a");
    Snapshot t = ok(b);
    EXPECT_EQ(t.path, "/b");
    EXPECT_FALSE(t.keep_alive);
}

TEST(HttpParser, MethodIsAnyToken) {
    EXPECT_EQ(ok("PURGE / HTTP/1.1\r\nHost: h\r\n\r\n").method, "PURGE");
    EXPECT_EQ(ok("get / HTTP/1.1\r\nHost: h\r\n\r\n").method, "get");
    EXPECT_EQ(ok("M-SEARCH /x HTTP/1.1\r\nHost: h\r\n\r\n").method, "M-SEARCH");
    bad("GE(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    bad(" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    bad("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    bad("G\xc3\x89T / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

TEST(HttpParser, AsteriskFormOnlyWithOptions) {
    Snapshot s = ok("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(s.target, "*");
    EXPECT_EQ(s.path, "*");
    bad("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    bad("OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

TEST(HttpParser, AbsoluteForm) {
    Snapshot s = ok("GET http://example.com:8080/a/b?q=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n");
    EXPECT_EQ(s.target, "http://example.com:8080/a/b?q=1");
    EXPECT_EQ(s.path, "/a/b");
    EXPECT_EQ(s.query, "q=1");
    s = ok("GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
    EXPECT_EQ(s.path, "/");
    EXPECT_EQ(s.query, "");
    s = ok("GET http://example.com?k=v HTTP/1.1\r\nHost: example.com\r\n\r\n");
    EXPECT_EQ(s.path, "/");
    EXPECT_EQ(s.query, "k=v");
    s = ok("GET http://[::1]:80/x HTTP/1.1\r\nHost: [::1]:80\r\n\r\n");
    EXPECT_EQ(s.path, "/x");
    bad("GET ftp://example.com/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    bad("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    bad("GET http://user:pw@example.com/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    bad("GET example.com/x HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    bad("GET http:/x HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

TEST(HttpParser, AuthorityFormOnlyWithConnect) {
    Snapshot s = ok("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    EXPECT_EQ(s.target, "example.com:443");
    EXPECT_EQ(s.path, "");
    bad("CONNECT /x HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    bad("CONNECT example.com HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    bad("CONNECT example.com:x HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    bad("CONNECT u@example.com:1 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    bad("GET example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

TEST(HttpParser, TargetCharacters) {
    bad("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    bad("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    bad("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    bad("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    bad("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    bad("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    bad("GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n"s, 400);
}

TEST(HttpParser, Version) {
    Snapshot s = ok("GET / HTTP/1.0\r\n\r\n");  // no Host needed on 1.0
    EXPECT_EQ(s.version_minor, 0);
    EXPECT_FALSE(s.keep_alive);
    bad("GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505);
    bad("GET / HTTP/1.9\r\nHost: h\r\n\r\n", 505);
    bad("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505);
    bad("GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505);
    bad("GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400);
    bad("GET / http/1.1\r\nHost: h\r\n\r\n", 400);
    bad("GET / HTTP/1\r\nHost: h\r\n\r\n", 400);
    bad("GET / HTTP/1.x\r\nHost: h\r\n\r\n", 400);
    bad("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400);
    bad("GET / HTTZ/1.1\r\nHost: h\r\n\r\n", 400);
    bad("GET /\r\nHost: h\r\n\r\n", 400);  // HTTP/0.9 style: no version
    bad("GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n", 400);
}

TEST(HttpParser, LineEndings) {
    bad("GET / HTTP/1.1\nHost: h\r\n\r\n", 400);
    bad("GET / HTTP/1.1\r\nHost: h\n\r\n", 400);
    bad("GET / HTTP/1.1\r\nHost: h\r\n\n", 400);
    bad("GET / HTTP/1.1\rHost: h\r\n\r\n", 400);
    bad("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400);
    bad("GET / HTTP/1.1\r\nHost: h\r\n\rX", 400);
    bad("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400);
}

TEST(HttpParser, LeadingEmptyLines) {
    std::string req = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    EXPECT_EQ(ok("\r\n" + req).r, static_cast<long>(req.size() + 2));
    EXPECT_EQ(ok("\r\n\r\n\r\n\r\n" + req).r, static_cast<long>(req.size() + 8));
    bad("\r\n\r\n\r\n\r\n\r\n" + req, 400);
    bad("\n" + req, 400);
    bad("\rX" + req, 400);
}

TEST(HttpParser, HeaderNameRules) {
    bad(get("Bad Name: v\r\n"), 400);
    bad(get("X-Colon : v\r\n"), 400);   // whitespace before the colon
    bad(get("X-Tab\t: v\r\n"), 400);
    bad(get(": v\r\n"), 400);
    bad(get("X@Y: v\r\n"), 400);
    bad(get("X(Y): v\r\n"), 400);
    bad(get("Caf\xc3\xa9: v\r\n"), 400);
    bad(get("NoColon\r\n"), 400);
    EXPECT_EQ(ok(get("x!#$%&'*+-.^_`|~09AZaz: v\r\n")).headers[1].first, "x!#$%&'*+-.^_`|~09AZaz");
}

TEST(HttpParser, HeaderValueControlCharacters) {
    bad(get("X: a\0b\r\n"s), 400);
    bad(get("X: a\x01b\r\n"), 400);
    bad(get("X: a\x1f\r\n"), 400);
    bad(get("X: a\x7f\r\n"), 400);
    bad(get("X: \x0b\r\n"), 400);
}

TEST(HttpParser, ObsFoldRejected) {
    bad(get("X: a\r\n b\r\n"), 400);
    bad(get("X: a\r\n\tb\r\n"), 400);
    bad("GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400);  // whitespace before the first field
}

TEST(HttpParser, Host) {
    bad("GET / HTTP/1.1\r\nX: y\r\n\r\n", 400);
    bad("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
    bad("GET / HTTP/1.1\r\nHost: a\r\nhOsT: b\r\n\r\n", 400);
    bad("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    bad("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
    bad("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
    bad("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400);
    EXPECT_GT(ok("GET / HTTP/1.1\r\nhost: a.b-c_d~e:8080\r\n\r\n").r, 0);
    EXPECT_GT(ok("GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n").r, 0);
    EXPECT_GT(ok("GET / HTTP/1.1\r\nHost:\r\n\r\n").r, 0);  // empty is allowed (RFC 9110 7.2)
}

TEST(HttpParser, ContentLength) {
    Snapshot s = ok(get("Content-Length: 10\r\n"));
    EXPECT_TRUE(s.has_content_length);
    EXPECT_EQ(s.content_length, 10u);
    EXPECT_EQ(ok(get("content-length:  007 \r\n")).content_length, 7u);
    EXPECT_EQ(ok(get("Content-Length: 0\r\n")).content_length, 0u);
    EXPECT_EQ(ok(get("Content-Length: 9223372036854775807\r\n")).content_length, 9223372036854775807u);
    bad(get("Content-Length: 9223372036854775808\r\n"), 400);
    bad(get("Content-Length: 99999999999999999999999\r\n"), 400);
    bad(get("Content-Length: abc\r\n"), 400);
    bad(get("Content-Length: -1\r\n"), 400);
    bad(get("Content-Length: +1\r\n"), 400);
    bad(get("Content-Length: 1.0\r\n"), 400);
    bad(get("Content-Length: 0x10\r\n"), 400);
    bad(get("Content-Length:\r\n"), 400);
    bad(get("Content-Length: 1 2\r\n"), 400);
    bad(get("Content-Length: 5, 5\r\n"), 400);
    bad(get("Content-Length: 5\r\nContent-Length: 5\r\n"), 400);
    bad(get("Content-Length: 5\r\nContent-Length: 6\r\n"), 400);
}

TEST(HttpParser, TransferEncoding) {
    for (const char* v : {"chunked", "Chunked", "CHUNKED", " chunked ", ", chunked", "chunked,"}) {
        Snapshot s = ok(get("Transfer-Encoding: " + std::string(v) + "\r\n"));
        EXPECT_TRUE(s.chunked) << v;
        EXPECT_FALSE(s.has_content_length);
    }
    bad(get("Transfer-Encoding: gzip, chunked\r\n"), 501);
    bad(get("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"), 501);
    bad(get("Transfer-Encoding: chunked, gzip\r\n"), 400);
    bad(get("Transfer-Encoding: gzip\r\n"), 400);
    bad(get("Transfer-Encoding: identity\r\n"), 400);
    bad(get("Transfer-Encoding: chunked, chunked\r\n"), 400);
    bad(get("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), 400);
    bad(get("Transfer-Encoding: chunked;q=1\r\n"), 400);
    bad(get("Transfer-Encoding: xchunked\r\n"), 400);
    bad(get("Transfer-Encoding:\r\n"), 400);
    // Request smuggling: both framings.
    bad(get("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), 400);
    bad(get("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), 400);
    bad("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
}

TEST(HttpParser, ConnectionKeepAlive) {
    EXPECT_TRUE(ok(get("")).keep_alive);
    EXPECT_FALSE(ok(get("Connection: close\r\n")).keep_alive);
    EXPECT_FALSE(ok(get("Connection: Keep-Alive, CLOSE\r\n")).keep_alive);
    EXPECT_FALSE(ok(get("Connection: keep-alive\r\nConnection: close\r\n")).keep_alive);
    EXPECT_TRUE(ok(get("Connection: keep-alive\r\n")).keep_alive);
    EXPECT_TRUE(ok(get("Connection: closed\r\n")).keep_alive);
    EXPECT_FALSE(ok("GET / HTTP/1.0\r\n\r\n").keep_alive);
    EXPECT_TRUE(ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
    EXPECT_TRUE(ok("GET / HTTP/1.0\r\nConnection: foo ,keep-alive\r\n\r\n").keep_alive);
    EXPECT_FALSE(ok("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
}

TEST(HttpParser, UpgradeWebsocket) {
    EXPECT_TRUE(ok(get("Connection: Upgrade\r\nUpgrade: websocket\r\n")).upgrade_websocket);
    EXPECT_TRUE(ok(get("Connection: keep-alive, upgrade\r\nUpgrade: h2c, WebSocket\r\n")).upgrade_websocket);
    EXPECT_FALSE(ok(get("Upgrade: websocket\r\n")).upgrade_websocket);
    EXPECT_FALSE(ok(get("Connection: upgrade\r\n")).upgrade_websocket);
    EXPECT_FALSE(ok(get("Connection: upgrade\r\nUpgrade: websockets\r\n")).upgrade_websocket);
}

TEST(HttpParser, Expect) {
    EXPECT_TRUE(ok(get("Expect: 100-continue\r\n")).expect_continue);
    EXPECT_TRUE(ok(get("Expect: 100-Continue\r\n")).expect_continue);
    EXPECT_FALSE(ok(get("")).expect_continue);
    EXPECT_FALSE(ok("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expect_continue);
    bad(get("Expect: 200-ok\r\n"), 417);
    bad(get("Expect: 100-continue, foo\r\n"), 417);
}

TEST(HttpParser, RequestLineLimit414) {
    Limits lim;
    lim.max_request_line = 32;
    std::string line = "GET /" + std::string(32 - 14, 'a') + " HTTP/1.1";  // exactly 32 bytes
    ASSERT_EQ(line.size(), 32u);
    EXPECT_GT(ok(line + "\r\nHost: h\r\n\r\n", lim).r, 0);
    std::string longer = "GET /" + std::string(32 - 13, 'a') + " HTTP/1.1";
    bad(longer + "\r\nHost: h\r\n\r\n", 414, lim);
    // No need to wait for the end of an endless request line.
    Snapshot s = parse("GET /" + std::string(100, 'a'), lim);
    EXPECT_EQ(s.r, -1);
    EXPECT_EQ(s.status, 414);
    s = parse(std::string(100, 'A'), lim);  // endless method
    EXPECT_EQ(s.status, 414);
}

TEST(HttpParser, HeaderBytesLimit431) {
    Limits lim;
    lim.max_header_bytes = 64;
    std::string base = "GET / HTTP/1.1\r\nHost: h\r\nX: ";  // 28 bytes
    std::string exact = base + std::string(64 - base.size() - 4, 'v') + "\r\n\r\n";
    ASSERT_EQ(exact.size(), 64u);
    EXPECT_EQ(ok(exact, lim).r, 64);
    std::string over = base + std::string(64 - base.size() - 3, 'v') + "\r\n\r\n";
    bad(over, 431, lim);
    // A never-ending field fails as soon as it crosses the limit.
    Snapshot s = parse(base + std::string(1000, 'v'), lim);
    EXPECT_EQ(s.r, -1);
    EXPECT_EQ(s.status, 431);
    s = parse("GET / HTTP/1.1\r\n" + std::string(1000, 'n'), lim);
    EXPECT_EQ(s.status, 431);
}

TEST(HttpParser, HeaderCountLimit431) {
    Limits lim;
    lim.max_headers = 5;
    std::string four;
    for (int i = 0; i < 4; ++i) four += "X" + std::to_string(i) + ": v\r\n";
    EXPECT_EQ(ok(get(four), lim).headers.size(), 5u);
    bad(get(four + "Y: v\r\n"), 431, lim);
    // The hard cap (the Request array) applies whatever the limit says.
    lim.max_headers = 100000;
    lim.max_header_bytes = 1u << 20;
    std::string many;
    for (size_t i = 0; i < kMaxHeadersHardCap - 1; ++i) many += "X: v\r\n";
    EXPECT_EQ(ok(get(many), lim).headers.size(), kMaxHeadersHardCap);
    Snapshot s = parse(get(many + "X: v\r\n"), lim);
    EXPECT_EQ(s.status, 431);
}

TEST(HttpParser, DefaultLimits) {
    Limits lim;
    EXPECT_EQ(parse("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", lim).status, 414);
    EXPECT_EQ(parse(get("X: " + std::string(20000, 'v') + "\r\n"), lim).status, 431);
    std::string many;
    for (int i = 0; i < 100; ++i) many += "X: v\r\n";
    EXPECT_EQ(parse(get(many), lim).status, 431);  // Host + 100
}

TEST(HttpParser, RequestIsResetBetweenCalls) {
    Request req;
    Error err;
    std::string a = get("Transfer-Encoding: chunked\r\nExpect: 100-continue\r\nConnection: close, upgrade\r\nUpgrade: websocket\r\n");
    ASSERT_GT(parse_request_head(a.data(), a.size(), req, Limits{}, err), 0);
    EXPECT_TRUE(req.chunked && req.expect_continue && req.upgrade_websocket && !req.keep_alive);
    std::string b = "GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
    ASSERT_GT(parse_request_head(b.data(), b.size(), req, Limits{}, err), 0);
    EXPECT_FALSE(req.chunked || req.expect_continue || req.upgrade_websocket);
    EXPECT_TRUE(req.keep_alive && req.has_content_length);
    EXPECT_EQ(req.num_headers, 2u);
    EXPECT_EQ(req.find("content-length"), "3");
    EXPECT_EQ(err.status, 0);
}

// Mutated valid requests: whatever the bytes, no crash, no over-read (guard
// page), every prefix consistent with the whole.
TEST(HttpParser, MutationsAreConsistent) {
    const std::vector<std::string> seeds = {
        "GET /a?b=c HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
        "POST http://h/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
        "PUT / HTTP/1.0\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\n",
    };
    std::mt19937 rng(12345);  // fixed seed: reproducible
    const char alphabet[] = "\r\n :,\t\0aZ09/?*#@\x7f\x80-";
    Limits lim;
    lim.max_request_line = 40;
    lim.max_header_bytes = 90;
    lim.max_headers = 4;
    for (int iter = 0; iter < 400; ++iter) {
        std::string s = seeds[rng() % seeds.size()];
        int edits = 1 + static_cast<int>(rng() % 3);
        for (int e = 0; e < edits; ++e) {
            size_t at = rng() % s.size();
            char ch = alphabet[rng() % (sizeof(alphabet) - 1)];
            switch (rng() % 3) {
                case 0: s[at] = ch; break;
                case 1: s.insert(s.begin() + static_cast<long>(at), ch); break;
                default: if (s.size() > 1) s.erase(at, 1); break;
            }
        }
        Snapshot full = parse_checked(s, lim);
        if (full.r == -1) {
            EXPECT_TRUE(full.status == 400 || full.status == 414 || full.status == 431 || full.status == 417 ||
                        full.status == 501 || full.status == 505)
                << full.status;
        }
    }
}
