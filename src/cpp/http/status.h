// HTTP status codes and their reason phrases (RFC 9110 15, IANA registry).
#pragma once
#include <string_view>

namespace fasterapi::http {

// Reason phrase of a registered status code; empty for unregistered ones (the
// reason-phrase may be empty on the wire, RFC 9112 4).
std::string_view status_reason(int status) noexcept;

// 1xx, 204 and 304 responses never carry content (RFC 9110 6.4.1).
constexpr bool status_has_no_content(int status) noexcept {
    return (status >= 100 && status < 200) || status == 204 || status == 304;
}

}  // namespace fasterapi::http
