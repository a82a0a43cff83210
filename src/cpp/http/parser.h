// HTTP/1.1 request head parser (RFC 9112 / RFC 9110), picohttpparser style:
// one call over the bytes received so far, results are views into them.
//
// Choices where the RFCs leave room (each is tested):
//  - Line endings must be CRLF. A bare LF or a bare CR anywhere in the head is
//    refused with 400 (lenient LF handling is a known request-smuggling lever).
//  - Up to kMaxLeadingEmptyLines empty lines before the request line are
//    skipped (RFC 9112 2.2); more is 400.
//  - A request line longer than max_request_line (CRLF excluded) is 414; a head
//    longer than max_header_bytes (request line and final CRLF included) or
//    with more than max_headers fields is 431. Limits are checked at the byte
//    that crosses them, so an endless head fails without waiting for its end.
//  - Any repeated Content-Length (even identical, even "5, 5") is 400.
//  - Transfer-Encoding: the coding list (all fields joined) must be exactly
//    "chunked" (any case). Chunked not last, or twice: 400; any other coding
//    (gzip, ...): 501. Together with Content-Length, or on HTTP/1.0: 400.
//  - Version "HTTP/1.0" or "HTTP/1.1"; any other HTTP/<digit>.<digit> is 505,
//    anything else 400.
//  - request-target must be visible ASCII without '#'. Forms: origin ("/p?q"),
//    absolute ("http[s]://authority/p?q", no userinfo), authority ("host:port",
//    CONNECT only, which must use it) and asterisk ("*", OPTIONS only).
//  - Expect: 100-continue (any case) sets expect_continue on HTTP/1.1 (it is
//    ignored on 1.0, RFC 9110 10.1.1); any other expectation is 417.
// The body size limit is not checked here: the body reader does it, so a
// route-specific limit can apply after routing.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/request.h"

namespace fasterapi::http {

struct Limits {
    size_t max_request_line = 8192;   // request line, CRLF excluded -> 414
    size_t max_header_bytes = 16384;  // whole head -> 431
    size_t max_headers = 100;         // field count -> 431 (capped at kMaxHeadersHardCap)
    uint64_t max_body_size = 1u << 20;  // decoded body -> 413 (see http/body.h)
};

// What to answer: HTTP status and a short reason (a static string, safe to put
// on the wire; never contains request bytes).
struct Error {
    int status = 0;
    const char* reason = "";
};

inline constexpr int kMaxLeadingEmptyLines = 4;

// Character classes of RFC 9110 5.6 / RFC 3986, shared by the head parser and
// the body reader (chunk extensions, trailers).
namespace detail {
enum : uint8_t { kTchar = 1, kTarget = 2, kFieldVchar = 4, kHost = 8, kWs = 16, kValue = 32 };
constexpr std::array<uint8_t, 256> make_char_table() {
    std::array<uint8_t, 256> t{};
    for (int c = 0x21; c <= 0x7e; ++c) t[c] |= kTarget | kFieldVchar;
    for (int c = 0x80; c <= 0xff; ++c) t[c] |= kFieldVchar;  // obs-text
    t['#'] &= static_cast<uint8_t>(~kTarget);                 // a fragment is never sent
    t[' '] |= kWs;
    t['\t'] |= kWs;
    for (auto& v : t)
        if (v & (kFieldVchar | kWs)) v |= kValue;  // field-value bytes, OWS included
    for (int c = '0'; c <= '9'; ++c) t[c] |= kTchar | kHost;
    for (int c = 'a'; c <= 'z'; ++c) t[c] |= kTchar | kHost;
    for (int c = 'A'; c <= 'Z'; ++c) t[c] |= kTchar | kHost;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] |= kTchar;
    // uri-host [":" port]: reg-name (unreserved, pct-encoded, sub-delims) or IP-literal
    for (char c : std::string_view("-._~%!$&'()*+,;=:[]")) t[static_cast<unsigned char>(c)] |= kHost;
    return t;
}
inline constexpr std::array<uint8_t, 256> kChars = make_char_table();
}  // namespace detail

inline bool is_tchar(unsigned char c) noexcept { return detail::kChars[c] & detail::kTchar; }
inline bool is_target_char(unsigned char c) noexcept { return detail::kChars[c] & detail::kTarget; }
// field-vchar = VCHAR / obs-text (SP and HTAB are handled by the callers)
inline bool is_field_vchar(unsigned char c) noexcept { return detail::kChars[c] & detail::kFieldVchar; }
inline bool is_host_char(unsigned char c) noexcept { return detail::kChars[c] & detail::kHost; }

// token = 1*tchar (RFC 9110 5.6.2)
inline bool is_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s)
        if (!is_tchar(static_cast<unsigned char>(c))) return false;
    return true;
}

inline std::string_view trim_ows(std::string_view v) noexcept {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
}

// Parses one request head at buf[0, len). Returns the bytes consumed (> 0) when
// the head is complete, -2 when more bytes are needed, -1 on error (err
// filled). Never reads outside [buf, buf + len), never allocates. Every call
// starts from scratch: call again with the grown buffer after a -2.
long parse_request_head(const char* buf, size_t len, Request& req, const Limits& limits,
                        Error& err) noexcept;

}  // namespace fasterapi::http
