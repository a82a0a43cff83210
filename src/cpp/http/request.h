// A parsed HTTP/1.1 request head. Every view points into the caller's buffer
// (picohttpparser style): valid until that buffer is consumed or moved.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fasterapi::http {

struct Header {
    std::string_view name;
    std::string_view value;  // leading/trailing OWS stripped
};

// ASCII case-insensitive equality (header names, tokens).
inline bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        unsigned char x = static_cast<unsigned char>(a[i]);
        unsigned char y = static_cast<unsigned char>(b[i]);
        if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x + 32);
        if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y + 32);
        if (x != y) return false;
    }
    return true;
}

inline constexpr size_t kMaxHeadersHardCap = 256;

struct Request {
    std::string_view method;
    std::string_view target;  // as sent (origin-form, absolute-form, '*')
    std::string_view path;    // origin path (absolute-form reduced to its path), no query
    std::string_view query;   // after '?', without it; empty if none
    int version_minor = 1;    // HTTP/1.<minor>; only 1.0 and 1.1 are accepted
    Header headers[kMaxHeadersHardCap];
    size_t num_headers = 0;

    // Framing facts derived while parsing (so callers never re-scan headers).
    bool keep_alive = true;          // 1.1 default on unless "close"; 1.0 only with "keep-alive"
    bool chunked = false;            // Transfer-Encoding: chunked (final coding)
    bool has_content_length = false;
    uint64_t content_length = 0;
    bool expect_continue = false;    // Expect: 100-continue
    bool upgrade_websocket = false;  // Upgrade: websocket and Connection has "upgrade"

    // First header with this name (case-insensitive), empty view if absent.
    std::string_view find(std::string_view name) const noexcept {
        for (size_t i = 0; i < num_headers; ++i)
            if (iequals(headers[i].name, name)) return headers[i].value;
        return {};
    }
    bool has(std::string_view name) const noexcept {
        for (size_t i = 0; i < num_headers; ++i)
            if (iequals(headers[i].name, name)) return true;
        return false;
    }
    size_t count(std::string_view name) const noexcept {
        size_t n = 0;
        for (size_t i = 0; i < num_headers; ++i)
            if (iequals(headers[i].name, name)) ++n;
        return n;
    }
};

}  // namespace fasterapi::http
