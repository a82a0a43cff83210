// HTTP/1.1 response writer: status line, head with framing headers, small
// complete responses (errors) and chunk framing. Appends to the caller's string.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/status.h"

namespace fasterapi::http {

using HeaderPairs = std::vector<std::pair<std::string, std::string>>;

// "HTTP/1.1 <status> <reason>\r\n". Throws std::invalid_argument unless 100 <= status <= 999.
void append_status_line(std::string& out, int status);

// Decimal digits of v (Content-Length, SSE retry); header-only so
// the SSE encoder can use it without linking the HTTP library.
inline void append_uint(std::string& out, uint64_t v) {
    char buf[20];
    size_t n = 0;
    do {
        buf[n++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) out.push_back(buf[--n]);
}

// Status line, Date (unless add_date is false or headers has one), the given
// headers, then framing: Transfer-Encoding: chunked when chunked, else
// Content-Length when content_length is set (neither for 1xx/204, RFC 9110
// 8.6), then "Connection: close" when !keep_alive, then the blank line.
// Throws std::invalid_argument (nothing appended) for a header name that is not
// a token or a value with CR, LF or NUL (response splitting), and for a
// Content-Length / Transfer-Encoding header that would duplicate the framing.
void append_response_head(std::string& out, int status, const HeaderPairs& headers,
                          std::optional<uint64_t> content_length, bool keep_alive, bool chunked = false,
                          bool add_date = true);

// A complete response with a Content-Type (omitted when empty) and
// Content-Length; body not written when head_only or for 1xx/204/304.
void append_simple_response(std::string& out, int status, std::string_view content_type, std::string_view body,
                            bool keep_alive, bool head_only = false);

// "<hex size>\r\n<data>\r\n"; nothing for empty data (a zero-size chunk ends the body).
void append_chunk(std::string& out, std::string_view data);
// "0\r\n\r\n"
void append_last_chunk(std::string& out);

// IMF-fixdate of the current second, e.g. "Sun, 06 Nov 1994 08:49:37 GMT",
// formatted once per second per thread.
std::string_view http_date();
// Formats a given time (seconds since the epoch) as IMF-fixdate.
std::string format_http_date(int64_t unix_seconds);

}  // namespace fasterapi::http
