// WebSocket opening handshake: compute_accept, base64, validate_upgrade and the writers.
#include "ws/handshake.h"

#include <gtest/gtest.h>

#include <cctype>

#include <string>
#include <utility>
#include <vector>

#include "ws/base64.h"

using namespace fasterapi;
using namespace fasterapi::ws;

namespace {

constexpr const char* kKey = "dGhlIHNhbXBsZSBub25jZQ==";

using Headers = std::vector<std::pair<std::string, std::string>>;

Headers good_headers() {
    return {{"Host", "server.example.com"},
            {"Upgrade", "websocket"},
            {"Connection", "Upgrade"},
            {"Sec-WebSocket-Key", kKey},
            {"Origin", "http://example.com"},
            {"Sec-WebSocket-Version", "13"}};
}

// Owns the strings the request's views point into.
struct Req {
    std::string method = "GET";
    Headers headers = good_headers();
    int version_minor = 1;
    http::Request req;

    const http::Request& build() {
        req = http::Request{};
        req.method = method;
        req.target = "/chat";
        req.path = "/chat";
        req.version_minor = version_minor;
        for (const auto& [n, v] : headers) req.headers[req.num_headers++] = http::Header{n, v};
        return req;
    }
    void erase(std::string_view name) {
        std::erase_if(headers, [&](const auto& h) { return http::iequals(h.first, name); });
    }
    void set(std::string_view name, std::string value) {
        erase(name);
        headers.emplace_back(std::string(name), std::move(value));
    }
};

HandshakeResult validate(Req& r, const HandshakeOptions& opts = {}) { return validate_upgrade(r.build(), opts); }

}  // namespace

// --- base64 / accept ------------------------------------------------------------

TEST(Base64, Rfc4648Vectors) {
    EXPECT_EQ(base64_encode(""), "");
    EXPECT_EQ(base64_encode("f"), "Zg==");
    EXPECT_EQ(base64_encode("fo"), "Zm8=");
    EXPECT_EQ(base64_encode("foo"), "Zm9v");
    EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
    EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
    EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(base64_encode(std::string("\xff\xfe\x00", 3)), "//4A");
    for (const char* s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
        std::string out;
        ASSERT_TRUE(base64_decode(base64_encode(s), out)) << s;
        EXPECT_EQ(out, s);
    }
}

TEST(Base64, StrictDecodeRejects) {
    std::string out;
    for (const char* bad : {"Zg=", "Zg", "Z===", "====", "Zg==Zg==", "Zm9v\n", " Zm9v", "Zm9v YmFy", "Zm-v", "Zm_v",
                            "Zm9=v", "=Zm9"}) {
        out.clear();
        EXPECT_FALSE(base64_decode(bad, out)) << bad;
    }
    out.clear();
    ASSERT_TRUE(base64_decode(kKey, out));
    EXPECT_EQ(out, "the sample nonce");
    EXPECT_EQ(base64_decoded_size(kKey), 16u);
}

TEST(Accept, Rfc6455Example) {
    EXPECT_EQ(compute_accept(kKey), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    // Another known pair (from the RFC 6455 1.3 style, computed independently).
    EXPECT_EQ(compute_accept("x3JJHMbDL1EzLkh9GBhXDw=="), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

// --- validate_upgrade: success ----------------------------------------------------

TEST(Validate, Rfc6455ExampleRequest) {
    Req r;
    HandshakeResult h = validate(r);
    ASSERT_EQ(h.status, 101) << h.reason;
    EXPECT_TRUE(h.ok());
    EXPECT_EQ(h.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    EXPECT_EQ(h.subprotocol, "");
    EXPECT_TRUE(h.offered_subprotocols.empty());
    EXPECT_FALSE(h.deflate);
    EXPECT_EQ(h.extensions, "");
}

TEST(Validate, HeaderNamesAndTokensAreCaseInsensitive) {
    Req r;
    r.headers = {{"host", "a"}, {"UPGRADE", "WebSocket"}, {"connection", "keep-alive, UPGRADE"},
                 {"sec-websocket-key", kKey}, {"SEC-WEBSOCKET-VERSION", "13"}};
    EXPECT_EQ(validate(r).status, 101);
}

TEST(Validate, TokenListsWithOwsAndSeveralHeaders) {
    Req r;
    r.set("Connection", "keep-alive ,\tUpgrade , ");
    EXPECT_EQ(validate(r).status, 101);
    r.set("Upgrade", "h2c, websocket");
    EXPECT_EQ(validate(r).status, 101);
    r.erase("Connection");
    r.headers.emplace_back("Connection", "keep-alive");
    r.headers.emplace_back("Connection", "upgrade");
    EXPECT_EQ(validate(r).status, 101);
    r.set("Connection", "upgraded");  // token, not substring
    EXPECT_EQ(validate(r).status, 400);
}

TEST(Validate, Subprotocols) {
    HandshakeOptions o;
    o.subprotocols = {"graphql-ws", "chat", "superchat"};
    Req r;
    r.set("Sec-WebSocket-Protocol", "superchat, chat");
    HandshakeResult h = validate(r, o);
    ASSERT_EQ(h.status, 101);
    EXPECT_EQ(h.subprotocol, "superchat");  // the client's order, not the server's
    EXPECT_EQ(h.offered_subprotocols, (std::vector<std::string>{"superchat", "chat"}));

    // Several headers are joined; empty elements skipped.
    r.erase("Sec-WebSocket-Protocol");
    r.headers.emplace_back("Sec-WebSocket-Protocol", "v1.foo, , x");
    r.headers.emplace_back("Sec-WebSocket-Protocol", "chat");
    h = validate(r, o);
    ASSERT_EQ(h.status, 101);
    EXPECT_EQ(h.offered_subprotocols, (std::vector<std::string>{"v1.foo", "x", "chat"}));
    EXPECT_EQ(h.subprotocol, "chat");

    // Case-sensitive; none supported -> no subprotocol, still accepted.
    r.set("Sec-WebSocket-Protocol", "Chat");
    h = validate(r, o);
    ASSERT_EQ(h.status, 101);
    EXPECT_EQ(h.subprotocol, "");
    EXPECT_EQ(h.offered_subprotocols, (std::vector<std::string>{"Chat"}));

    // Server supports none: offered list still reported for the application.
    r.set("Sec-WebSocket-Protocol", "chat");
    h = validate(r, {});
    EXPECT_EQ(h.subprotocol, "");
    EXPECT_EQ(h.offered_subprotocols.size(), 1u);
}

TEST(Validate, DeflateNegotiated) {
    HandshakeOptions o;  // deflate enabled by default
    Req r;
    r.set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits");
    HandshakeResult h = validate(r, o);
    ASSERT_EQ(h.status, 101);
    EXPECT_TRUE(h.deflate);
    EXPECT_EQ(h.extensions, "permessage-deflate");
    EXPECT_EQ(h.deflate_params.client_max_window_bits, 15);

    // Offers spread over several headers are joined in order.
    r.erase("Sec-WebSocket-Extensions");
    r.headers.emplace_back("Sec-WebSocket-Extensions", "foo, permessage-deflate; server_max_window_bits=8");
    r.headers.emplace_back("Sec-WebSocket-Extensions", "permessage-deflate; server_max_window_bits=10");
    h = validate(r, o);
    ASSERT_EQ(h.status, 101);
    EXPECT_TRUE(h.deflate);
    EXPECT_EQ(h.extensions, "permessage-deflate; server_max_window_bits=10");
    EXPECT_EQ(h.deflate_params.server_max_window_bits, 10);

    o.deflate.enabled = false;
    h = validate(r, o);
    ASSERT_EQ(h.status, 101);
    EXPECT_FALSE(h.deflate);
    EXPECT_EQ(h.extensions, "");

    // A broken extension header only means no compression.
    o.deflate.enabled = true;
    r.set("Sec-WebSocket-Extensions", "permessage-deflate; ;");
    h = validate(r, o);
    ASSERT_EQ(h.status, 101);
    EXPECT_FALSE(h.deflate);
}

TEST(Validate, OriginAllowList) {
    HandshakeOptions o;
    o.allowed_origins = {"https://app.example.com", "http://example.com"};
    Req r;
    EXPECT_EQ(validate(r, o).status, 101);
    r.set("Origin", "HTTP://EXAMPLE.COM");
    EXPECT_EQ(validate(r, o).status, 101);
    r.set("Origin", "http://evil.example");
    HandshakeResult h = validate(r, o);
    EXPECT_EQ(h.status, 403);
    EXPECT_EQ(h.reason, "Origin not allowed");
    r.set("Origin", "http://example.com.evil");
    EXPECT_EQ(validate(r, o).status, 403);
    r.erase("Origin");
    h = validate(r, o);
    EXPECT_EQ(h.status, 403);
    EXPECT_EQ(h.reason, "missing Origin");
    o.allowed_origins.push_back("");  // allow non-browser clients
    EXPECT_EQ(validate(r, o).status, 101);
    o.allowed_origins = {"*"};
    EXPECT_EQ(validate(r, o).status, 101);
    r.set("Origin", "http://anything");
    EXPECT_EQ(validate(r, o).status, 101);
    r.headers.emplace_back("Origin", "http://other");
    h = validate(r, o);
    EXPECT_EQ(h.status, 400);
    EXPECT_EQ(h.reason, "duplicate Origin");
    // No allow-list: Origin is not looked at.
    EXPECT_EQ(validate(r, {}).status, 101);
}

// --- validate_upgrade: every refusal ------------------------------------------------

struct Refusal {
    const char* name;
    void (*mutate)(Req&);
    int status;
    const char* reason;
};

class Refusals : public ::testing::TestWithParam<Refusal> {};

TEST_P(Refusals, StatusAndReason) {
    const Refusal& c = GetParam();
    Req r;
    c.mutate(r);
    HandshakeResult h = validate(r);
    EXPECT_EQ(h.status, c.status) << c.name;
    EXPECT_EQ(h.reason, c.reason) << c.name;
    EXPECT_FALSE(h.ok());
    EXPECT_EQ(h.accept, "");
}

INSTANTIATE_TEST_SUITE_P(
    All, Refusals,
    ::testing::Values(
        Refusal{"post", [](Req& r) { r.method = "POST"; }, 405, "WebSocket upgrade requires GET"},
        Refusal{"lowercase get", [](Req& r) { r.method = "get"; }, 405, "WebSocket upgrade requires GET"},
        Refusal{"http10", [](Req& r) { r.version_minor = 0; }, 400, "WebSocket upgrade requires HTTP/1.1"},
        Refusal{"no upgrade", [](Req& r) { r.erase("Upgrade"); }, 426, "missing Upgrade: websocket"},
        Refusal{"upgrade h2c", [](Req& r) { r.set("Upgrade", "h2c"); }, 426, "missing Upgrade: websocket"},
        Refusal{"upgrade substring", [](Req& r) { r.set("Upgrade", "websockets"); }, 426,
                "missing Upgrade: websocket"},
        Refusal{"no connection", [](Req& r) { r.erase("Connection"); }, 400, "missing Connection: upgrade"},
        Refusal{"connection keep-alive", [](Req& r) { r.set("Connection", "keep-alive"); }, 400,
                "missing Connection: upgrade"},
        Refusal{"no host", [](Req& r) { r.erase("Host"); }, 400, "missing Host"},
        Refusal{"two hosts", [](Req& r) { r.headers.emplace_back("Host", "b"); }, 400, "duplicate Host"},
        Refusal{"no version", [](Req& r) { r.erase("Sec-WebSocket-Version"); }, 426,
                "missing Sec-WebSocket-Version"},
        Refusal{"version 8", [](Req& r) { r.set("Sec-WebSocket-Version", "8"); }, 426,
                "unsupported Sec-WebSocket-Version"},
        Refusal{"version 013", [](Req& r) { r.set("Sec-WebSocket-Version", "013"); }, 426,
                "unsupported Sec-WebSocket-Version"},
        Refusal{"version list", [](Req& r) { r.set("Sec-WebSocket-Version", "13, 8"); }, 426,
                "unsupported Sec-WebSocket-Version"},
        Refusal{"two versions", [](Req& r) { r.headers.emplace_back("Sec-WebSocket-Version", "13"); }, 400,
                "duplicate Sec-WebSocket-Version"},
        Refusal{"no key", [](Req& r) { r.erase("Sec-WebSocket-Key"); }, 400, "missing Sec-WebSocket-Key"},
        Refusal{"two keys", [](Req& r) { r.headers.emplace_back("Sec-WebSocket-Key", kKey); }, 400,
                "duplicate Sec-WebSocket-Key"},
        Refusal{"empty key", [](Req& r) { r.set("Sec-WebSocket-Key", ""); }, 400, "invalid Sec-WebSocket-Key"},
        Refusal{"key 15 bytes", [](Req& r) { r.set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j"); }, 400,
                "invalid Sec-WebSocket-Key"},
        Refusal{"key 17 bytes", [](Req& r) { r.set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZTE="); }, 400,
                "invalid Sec-WebSocket-Key"},
        Refusal{"key no padding", [](Req& r) { r.set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ"); }, 400,
                "invalid Sec-WebSocket-Key"},
        Refusal{"key bad char", [](Req& r) { r.set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZ!=="); }, 400,
                "invalid Sec-WebSocket-Key"},
        Refusal{"key url-safe", [](Req& r) { r.set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZ_=="); }, 400,
                "invalid Sec-WebSocket-Key"},
        Refusal{"key not base64", [](Req& r) { r.set("Sec-WebSocket-Key", "this is not base64 at al"); }, 400,
                "invalid Sec-WebSocket-Key"},
        Refusal{"bad protocol", [](Req& r) { r.set("Sec-WebSocket-Protocol", "chat, bad proto"); }, 400,
                "invalid Sec-WebSocket-Protocol"},
        Refusal{"bad protocol char", [](Req& r) { r.set("Sec-WebSocket-Protocol", "a/b"); }, 400,
                "invalid Sec-WebSocket-Protocol"}),
    [](const ::testing::TestParamInfo<Refusal>& info) {
        std::string n = info.param.name;
        for (char& c : n)
            if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
        return n;
    });

// --- writers --------------------------------------------------------------------

TEST(Write, AcceptResponseMinimal) {
    Req r;
    HandshakeResult h = validate(r);
    std::string out;
    write_accept_response(out, h, "");
    EXPECT_EQ(out,
              "HTTP/1.1 101 Switching Protocols\r\n"
              "Upgrade: websocket\r\n"
              "Connection: Upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
              "\r\n");
}

TEST(Write, AcceptResponseFull) {
    HandshakeOptions o;
    o.subprotocols = {"chat"};
    Req r;
    r.set("Sec-WebSocket-Protocol", "chat");
    r.set("Sec-WebSocket-Extensions", "permessage-deflate; server_no_context_takeover");
    HandshakeResult h = validate(r, o);
    ASSERT_EQ(h.status, 101);
    std::string out = "X";  // appends
    write_accept_response(out, h, "", {{"Set-Cookie", "a=b"}, {"X-Trace", "1"}});
    EXPECT_EQ(out,
              "XHTTP/1.1 101 Switching Protocols\r\n"
              "Upgrade: websocket\r\n"
              "Connection: Upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
              "Sec-WebSocket-Protocol: chat\r\n"
              "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
              "Set-Cookie: a=b\r\n"
              "X-Trace: 1\r\n"
              "\r\n");
    // The application's own choice overrides the automatic one.
    std::string out2;
    write_accept_response(out2, h, "superchat");
    EXPECT_NE(out2.find("Sec-WebSocket-Protocol: superchat\r\n"), std::string::npos);
    EXPECT_EQ(out2.find("Sec-WebSocket-Protocol: chat\r\n"), std::string::npos);
}

TEST(Write, AcceptResponseRejectsInjection) {
    Req r;
    HandshakeResult h = validate(r);
    std::string out;
    EXPECT_THROW(write_accept_response(out, h, "", {{"X-A", "1\r\nEvil: 1"}}), std::invalid_argument);
    EXPECT_THROW(write_accept_response(out, h, "", {{"Bad Name", "1"}}), std::invalid_argument);
    EXPECT_THROW(write_accept_response(out, h, "", {{"", "1"}}), std::invalid_argument);
    EXPECT_THROW(write_accept_response(out, h, "a b"), std::invalid_argument);
    EXPECT_THROW(write_accept_response(out, h, "chat\r\nX: 1"), std::invalid_argument);
    EXPECT_EQ(out, "");  // nothing written on error
}

TEST(Write, Refusal400) {
    std::string out;
    write_refusal_response(out, 400, "missing Sec-WebSocket-Key");
    EXPECT_EQ(out,
              "HTTP/1.1 400 Bad Request\r\n"
              "Content-Type: text/plain; charset=utf-8\r\n"
              "Content-Length: 26\r\n"
              "Connection: close\r\n"
              "\r\n"
              "missing Sec-WebSocket-Key\n");
}

TEST(Write, Refusal426AddsVersion) {
    std::string out;
    write_refusal_response(out, 426, "unsupported Sec-WebSocket-Version");
    EXPECT_EQ(out.rfind("HTTP/1.1 426 Upgrade Required\r\n", 0), 0u);
    EXPECT_NE(out.find("\r\nSec-WebSocket-Version: 13\r\n"), std::string::npos);
    EXPECT_NE(out.find("\r\nUpgrade: websocket\r\n"), std::string::npos);
    EXPECT_NE(out.find("\r\n\r\nunsupported Sec-WebSocket-Version\n"), std::string::npos);
}

TEST(Write, Refusal403And405) {
    std::string out;
    write_refusal_response(out, 403, "Origin not allowed");
    EXPECT_EQ(out.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u);
    EXPECT_EQ(out.find("Sec-WebSocket-Version"), std::string::npos);
    EXPECT_EQ(out.find("Allow:"), std::string::npos);
    out.clear();
    write_refusal_response(out, 405, "WebSocket upgrade requires GET");
    EXPECT_EQ(out.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u);
    EXPECT_NE(out.find("\r\nAllow: GET\r\n"), std::string::npos);
}

TEST(Write, RefusalReasonCannotInjectHeaders) {
    std::string out;
    write_refusal_response(out, 400, "a\r\nSet-Cookie: x");
    const size_t head_end = out.find("\r\n\r\n");
    ASSERT_NE(head_end, std::string::npos);
    EXPECT_EQ(out.find("Set-Cookie", 0), out.find("a  Set-Cookie: x") + 3);
    EXPECT_GT(out.find("Set-Cookie"), head_end);
    EXPECT_NE(out.find("Content-Length: 17\r\n"), std::string::npos);
}

TEST(Write, EndToEndRefusalFromValidate) {
    Req r;
    r.set("Sec-WebSocket-Version", "8");
    HandshakeResult h = validate(r);
    std::string out;
    write_refusal_response(out, h.status, h.reason);
    EXPECT_EQ(out.rfind("HTTP/1.1 426 ", 0), 0u);
    EXPECT_NE(out.find("Sec-WebSocket-Version: 13"), std::string::npos);
}
