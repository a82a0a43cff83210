// Server-sent events encoder (WHATWG HTML, "Server-sent events",
// text/event-stream). Appends the wire bytes of one event to the caller's string.
//
// Wire form, field order comment, id, event, retry, data, then a blank line:
//   : comment line          (one per line of comment)
//   id: <id>                ("id:" when has_id and the id is empty: resets it)
//   event: <name>
//   retry: <ms>
//   data: <line>            (one per line of data; "data:" for an empty line)
// Line breaks in data and comments may be CRLF, CR or LF (all three end a line
// for the parser); each becomes a separate line, so a client sees data with
// LF line breaks. A trailing line break yields a trailing empty data line, so
// "a\n" arrives as "a\n". Fields that a line break would split into injected
// fields are refused instead (event, id); an id with NUL is ignored by
// clients, so it is refused too.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace fasterapi::sse {

struct Event {
    std::string_view data;
    std::string_view event;  // empty: no event field (clients use "message")
    std::string_view id;
    bool has_id = false;     // id field present (an empty id resets the client's last event id)
    int64_t retry_ms = -1;   // -1: no retry field
    std::string_view comment;  // empty: no comment
    bool has_data = true;    // false: no data field (comment/retry-only records)
};

enum class EncodeError { None, EventHasLineBreak, IdHasLineBreakOrNul, RetryNegative };

// A clear message for each error ("event name must not contain CR or LF", ...).
const char* describe(EncodeError e) noexcept;

// Validates without writing.
EncodeError validate(const Event& ev) noexcept;

// Appends the event; on error out is left unchanged.
EncodeError encode(const Event& ev, std::string& out);

// ":" comment lines, one per line of text (CRLF, CR or LF), no blank line after.
void encode_comment(std::string_view text, std::string& out);

// ": keep-alive\n\n": a comment that keeps proxies and clients from timing out.
void encode_keepalive(std::string& out);
inline constexpr std::string_view kKeepAlive = ": keep-alive\n\n";

// Exact size encode() would append (for reserving), 0 on error.
size_t encoded_size(const Event& ev) noexcept;

}  // namespace fasterapi::sse
