#include "sse/encoder.h"

#include "http/response.h"

namespace fasterapi::sse {

namespace {

// Calls f(line) for each line of text split on CRLF, CR or LF. A trailing line
// break yields a trailing empty line; empty text is one empty line.
template <class F>
void for_each_line(std::string_view text, F&& f) {
    size_t start = 0;
    for (;;) {
        size_t brk = text.find_first_of("\r\n", start);
        if (brk == std::string_view::npos) {
            f(text.substr(start));
            return;
        }
        f(text.substr(start, brk - start));
        start = brk + 1;
        if (text[brk] == '\r' && start < text.size() && text[start] == '\n') ++start;
    }
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
    out.append(name);
    if (value.empty()) {
        out.push_back(':');
    } else {
        out.append(": ");
        out.append(value);
    }
    out.push_back('\n');
}

size_t field_size(std::string_view name, std::string_view value) noexcept {
    return name.size() + (value.empty() ? 1 : 2 + value.size()) + 1;
}

size_t digits(int64_t v) noexcept {
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        ++n;
    }
    return n;
}

}  // namespace

const char* describe(EncodeError e) noexcept {
    switch (e) {
        case EncodeError::None: return "ok";
        case EncodeError::EventHasLineBreak: return "event name must not contain CR or LF";
        case EncodeError::IdHasLineBreakOrNul: return "event id must not contain CR, LF or NUL";
        case EncodeError::RetryNegative: return "retry must be a non-negative number of milliseconds";
    }
    return "unknown SSE encoding error";
}

EncodeError validate(const Event& ev) noexcept {
    if (ev.event.find_first_of("\r\n") != std::string_view::npos) return EncodeError::EventHasLineBreak;
    if (ev.has_id && ev.id.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
        return EncodeError::IdHasLineBreakOrNul;
    if (ev.retry_ms < -1) return EncodeError::RetryNegative;
    return EncodeError::None;
}

size_t encoded_size(const Event& ev) noexcept {
    if (validate(ev) != EncodeError::None) return 0;
    size_t n = 1;  // the blank line
    if (!ev.comment.empty()) for_each_line(ev.comment, [&](std::string_view l) { n += field_size("", l); });
    if (ev.has_id) n += field_size("id", ev.id);
    if (!ev.event.empty()) n += field_size("event", ev.event);
    if (ev.retry_ms >= 0) n += 8 + digits(ev.retry_ms);  // "retry: " + digits + "\n"
    if (ev.has_data) for_each_line(ev.data, [&](std::string_view l) { n += field_size("data", l); });
    return n;
}

EncodeError encode(const Event& ev, std::string& out) {
    if (EncodeError e = validate(ev); e != EncodeError::None) return e;
    out.reserve(out.size() + encoded_size(ev));
    if (!ev.comment.empty()) encode_comment(ev.comment, out);
    if (ev.has_id) append_field(out, "id", ev.id);
    if (!ev.event.empty()) append_field(out, "event", ev.event);
    if (ev.retry_ms >= 0) {
        out.append("retry: ");
        http::append_uint(out, static_cast<uint64_t>(ev.retry_ms));  // >= 0 here
        out.push_back('\n');
    }
    if (ev.has_data) for_each_line(ev.data, [&](std::string_view l) { append_field(out, "data", l); });
    out.push_back('\n');
    return EncodeError::None;
}

void encode_comment(std::string_view text, std::string& out) {
    for_each_line(text, [&](std::string_view l) { append_field(out, "", l); });
}

void encode_keepalive(std::string& out) { out.append(kKeepAlive); }

}  // namespace fasterapi::sse
