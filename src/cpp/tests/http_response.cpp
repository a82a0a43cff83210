// Response writer: status table, exact head bytes, framing rules, header
// injection refused, Date format, chunk framing round-tripped through the body reader.
#include "http/response.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "http/body.h"

using namespace fasterapi::http;

namespace {
// "Sun, 06 Nov 1994 08:49:37 GMT" shape: 'A' upper, 'a' lower, '9' digit, else literal.
bool is_imf_fixdate(std::string_view s) {
    constexpr std::string_view shape = "Aaa, 99 Aaa 9999 99:99:99 GMT";
    if (s.size() != shape.size()) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i], k = shape[i];
        bool ok = k == 'A' ? (c >= 'A' && c <= 'Z') : k == 'a' ? (c >= 'a' && c <= 'z')
                : k == '9' ? (c >= '0' && c <= '9') : c == k;
        if (!ok) return false;
    }
    return true;
}
}  // namespace

TEST(HttpStatus, Reasons) {
    EXPECT_EQ(status_reason(100), "Continue");
    EXPECT_EQ(status_reason(101), "Switching Protocols");
    EXPECT_EQ(status_reason(200), "OK");
    EXPECT_EQ(status_reason(204), "No Content");
    EXPECT_EQ(status_reason(400), "Bad Request");
    EXPECT_EQ(status_reason(404), "Not Found");
    EXPECT_EQ(status_reason(405), "Method Not Allowed");
    EXPECT_EQ(status_reason(413), "Content Too Large");
    EXPECT_EQ(status_reason(414), "URI Too Long");
    EXPECT_EQ(status_reason(417), "Expectation Failed");
    EXPECT_EQ(status_reason(426), "Upgrade Required");
    EXPECT_EQ(status_reason(431), "Request Header Fields Too Large");
    EXPECT_EQ(status_reason(500), "Internal Server Error");
    EXPECT_EQ(status_reason(501), "Not Implemented");
    EXPECT_EQ(status_reason(505), "HTTP Version Not Supported");
    EXPECT_EQ(status_reason(299), "");
    EXPECT_EQ(status_reason(0), "");
    EXPECT_EQ(status_reason(-1), "");
    EXPECT_TRUE(status_has_no_content(101));
    EXPECT_TRUE(status_has_no_content(204));
    EXPECT_TRUE(status_has_no_content(304));
    EXPECT_FALSE(status_has_no_content(200));
}

TEST(HttpResponse, StatusLine) {
    std::string out = "x";
    append_status_line(out, 404);
    EXPECT_EQ(out, "xHTTP/1.1 404 Not Found\r\n");
    out.clear();
    append_status_line(out, 299);
    EXPECT_EQ(out, "HTTP/1.1 299 \r\n");
    EXPECT_THROW(append_status_line(out, 99), std::invalid_argument);
    EXPECT_THROW(append_status_line(out, 1000), std::invalid_argument);
}

TEST(HttpResponse, HeadExactBytes) {
    std::string out;
    append_response_head(out, 200, {{"Content-Type", "text/plain"}, {"X-A", "b\tc"}}, 5, true, false, false);
    EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: b\tc\r\nContent-Length: 5\r\n\r\n");
    out.clear();
    append_response_head(out, 200, {}, 0, false, false, false);
    EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    out.clear();
    append_response_head(out, 200, {}, std::nullopt, true, true, false);
    EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    out.clear();
    append_response_head(out, 200, {}, 12, true, true, false);  // chunked wins
    EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    out.clear();
    append_response_head(out, 200, {}, std::nullopt, false, false, false);  // close-delimited
    EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
}

TEST(HttpResponse, NoFramingOn1xxAnd204) {
    std::string out;
    append_response_head(out, 204, {}, 0, true, false, false);
    EXPECT_EQ(out, "HTTP/1.1 204 No Content\r\n\r\n");
    out.clear();
    append_response_head(out, 101, {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}}, 0, true, true, false);
    EXPECT_EQ(out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    out.clear();
    append_response_head(out, 304, {}, 10, true, false, false);  // 304 may state the length
    EXPECT_EQ(out, "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n");
}

TEST(HttpResponse, DateHeader) {
    EXPECT_EQ(format_http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
    EXPECT_EQ(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    EXPECT_EQ(format_http_date(4102444799), "Thu, 31 Dec 2099 23:59:59 GMT");
    std::string now(http_date());
    EXPECT_TRUE(is_imf_fixdate(now)) << now;
    EXPECT_FALSE(is_imf_fixdate("Sun, 6 Nov 1994 08:49:37 GMT"));
    std::string out;
    append_response_head(out, 200, {}, 0, true);
    size_t at = out.find("\r\nDate: ");
    ASSERT_NE(at, std::string::npos) << out;
    EXPECT_TRUE(is_imf_fixdate(std::string_view(out).substr(at + 8, 29))) << out;
    EXPECT_EQ(out.substr(at + 37, 2), "\r\n");
    out.clear();
    append_response_head(out, 200, {{"date", "Sun, 06 Nov 1994 08:49:37 GMT"}}, 0, true);
    EXPECT_EQ(out, "HTTP/1.1 200 OK\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n");
}

TEST(HttpResponse, HeaderInjectionRefused) {
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"X-A", "a\r\nSet-Cookie: x=1"}, {"X-A", "a\nb"}, {"X-A", "a\rb"}, {"X-A", std::string("a\0b", 3)},
        {"X-A\r\nX-B", "v"}, {"X A", "v"}, {"X:A", "v"}, {"", "v"}, {std::string("X\0", 2), "v"},
        {"Caf\xc3\xa9", "v"},
    };
    for (const auto& h : bad) {
        std::string out = "keep";
        EXPECT_THROW(append_response_head(out, 200, {h}, 0, true), std::invalid_argument)
            << testing::PrintToString(h.first) << " " << testing::PrintToString(h.second);
        EXPECT_EQ(out, "keep");  // nothing appended
    }
    try {
        std::string out;
        append_response_head(out, 200, {{"X-A", "a\r\nb"}}, 0, true);
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("CR, LF or NUL"), std::string::npos) << e.what();
    }
    std::string out;
    append_response_head(out, 200, {{"X-A", "obs-text \xc3\xa9 ok"}}, 0, true, false, false);
    EXPECT_NE(out.find("X-A: obs-text \xc3\xa9 ok\r\n"), std::string::npos);
}

TEST(HttpResponse, DuplicateFramingRefused) {
    std::string out;
    EXPECT_THROW(append_response_head(out, 200, {{"Content-Length", "3"}}, 3, true), std::invalid_argument);
    EXPECT_THROW(append_response_head(out, 200, {{"transfer-encoding", "chunked"}}, std::nullopt, true, true),
                 std::invalid_argument);
    EXPECT_TRUE(out.empty());
    // The caller may frame the response itself.
    append_response_head(out, 200, {{"Content-Length", "3"}}, std::nullopt, true, false, false);
    EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");
}

TEST(HttpResponse, SimpleResponse) {
    std::string out;
    append_simple_response(out, 404, "text/plain", "not here", true);
    EXPECT_EQ(out.substr(0, 24), "HTTP/1.1 404 Not Found\r\n");
    EXPECT_NE(out.find("\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nnot here"), std::string::npos);
    EXPECT_EQ(out.find("Connection"), std::string::npos);
    EXPECT_TRUE(out.ends_with("\r\n\r\nnot here"));
    out.clear();
    append_simple_response(out, 431, "text/plain", "too big", false, true);
    EXPECT_TRUE(out.ends_with("Content-Length: 7\r\nConnection: close\r\n\r\n")) << out;
    out.clear();
    append_simple_response(out, 204, "text/plain", "ignored", true);
    EXPECT_EQ(out.find("Content-"), std::string::npos);
    EXPECT_TRUE(out.ends_with("\r\n\r\n"));
    out.clear();
    append_simple_response(out, 400, "", "", false);
    EXPECT_EQ(out.find("Content-Type"), std::string::npos);
    EXPECT_TRUE(out.ends_with("Content-Length: 0\r\nConnection: close\r\n\r\n"));
}

TEST(HttpResponse, ChunkFraming) {
    std::string out;
    append_chunk(out, "hello");
    EXPECT_EQ(out, "5\r\nhello\r\n");
    out.clear();
    append_chunk(out, "");
    EXPECT_EQ(out, "");
    append_chunk(out, std::string(255, 'x'));
    EXPECT_EQ(out.substr(0, 4), "ff\r\n");
    out.clear();
    append_chunk(out, std::string(4096, 'x'));
    EXPECT_EQ(out.substr(0, 6), "1000\r\n");
    out.clear();
    append_last_chunk(out);
    EXPECT_EQ(out, "0\r\n\r\n");
}

TEST(HttpResponse, ChunksRoundTripThroughBodyReader) {
    std::string wire, expected;
    for (size_t n : {1u, 15u, 16u, 17u, 255u, 256u, 0u, 5000u}) {
        std::string piece(n, static_cast<char>('a' + n % 26));
        append_chunk(wire, piece);
        expected += piece;
    }
    append_last_chunk(wire);
    Request req;
    req.chunked = true;
    BodyReader br;
    br.start(req, Limits{});
    std::string body;
    size_t consumed = 0;
    Error err;
    ASSERT_EQ(br.feed(wire.data(), wire.size(), consumed, body, err), BodyReader::Status::Done);
    EXPECT_EQ(consumed, wire.size());
    EXPECT_EQ(body, expected);
}
