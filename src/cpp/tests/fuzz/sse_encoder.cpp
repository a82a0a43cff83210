// libFuzzer target: the SSE encoder (sse/encoder.h) against a WHATWG-conformant
// event stream parser written here from the HTML spec ("Interpreting an event
// stream"): what the encoder writes, a browser must read back unchanged.
//
// Input: records separated by 00 02; each record is
//   [flags] [retry byte] data 00 01 event 00 01 id 00 01 comment
//   flags bit 0 has_data, bit 1 use the event field, bit 2 has_id, bit 3 retry,
//         bit 4 use the comment, bit 5 a keep-alive after the event
//   retry_ms = (int8)retry byte, scaled by 12345 when >= 0 (negatives test refusal)
// Checks: encode() == validate() and refuses exactly CR/LF in event, CR/LF/NUL in id
// (when present) and retry < -1, leaving out unchanged; encoded_size() is exact; the
// parsed stream dispatches one event per record with data (CRLF and CR normalised to
// LF), type (or "message"), last event id and retry equal to the input; records
// without data dispatch nothing but still set id/retry; comment lines never turn into
// fields.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "sse/encoder.h"

namespace {

using namespace fasterapi::sse;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "fuzz_sse_encoder: %s\n", what);
    std::abort();
}
void check(bool ok, const char* what) {
    if (!ok) die(what);
}

struct Dispatched {
    std::string type, data, last_id;
    bool operator==(const Dispatched&) const = default;
};

// WHATWG HTML 9.2.6, on bytes (UTF-8 decoding is the identity for the bytes we
// compare; the BOM rule only concerns the stream's first bytes, which are a field
// name here).
struct SpecParser {
    std::string data_buf, type_buf, last_id_buf, last_id;
    int64_t retry = -1;
    std::vector<Dispatched> events;
    std::vector<std::string> comments;

    void line(std::string_view l) {
        if (l.empty()) return dispatch();
        if (l[0] == ':') {
            comments.emplace_back(l.substr(1));
            return;
        }
        const size_t colon = l.find(':');
        std::string_view field = l.substr(0, colon), value;
        if (colon != std::string_view::npos) {
            value = l.substr(colon + 1);
            if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
        }
        if (field == "event") {
            type_buf = value;
        } else if (field == "data") {
            data_buf.append(value);
            data_buf.push_back('\n');
        } else if (field == "id") {
            if (value.find('\0') == std::string_view::npos) last_id_buf = value;
        } else if (field == "retry") {
            bool digits = !value.empty();
            for (char c : value) digits = digits && c >= '0' && c <= '9';
            if (digits && value.size() < 19) retry = std::stoll(std::string(value));
        }
    }
    void dispatch() {
        last_id = last_id_buf;
        if (data_buf.empty()) {
            type_buf.clear();
            return;
        }
        data_buf.pop_back();
        events.push_back({type_buf.empty() ? "message" : type_buf, data_buf, last_id});
        data_buf.clear();
        type_buf.clear();
    }
    // Lines end with CRLF, LF or CR; an unterminated last line is not processed.
    void parse(std::string_view s) {
        size_t start = 0;
        for (size_t i = 0; i < s.size(); ++i) {
            if (s[i] != '\r' && s[i] != '\n') continue;
            line(s.substr(start, i - start));
            if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
            start = i + 1;
        }
        check(start == s.size(), "stream does not end with a line break");
    }
};

std::string normalise_breaks(std::string_view s) {
    std::string o;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r') {
            o.push_back('\n');
            if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
        } else {
            o.push_back(s[i]);
        }
    }
    return o;
}

std::vector<std::string_view> split(std::string_view s, std::string_view sep) {
    std::vector<std::string_view> parts;
    for (;;) {
        const size_t at = s.find(sep);
        parts.push_back(s.substr(0, at));
        if (at == std::string_view::npos) return parts;
        s.remove_prefix(at + sep.size());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    std::string stream;
    std::vector<Dispatched> want;
    std::vector<std::string> want_comments;
    std::string last_id;
    int64_t want_retry = -1;
    for (std::string_view rec : split(in, std::string_view("\0\2", 2))) {
        if (rec.size() < 2) continue;
        const uint8_t flags = static_cast<uint8_t>(rec[0]);
        const int8_t r = static_cast<int8_t>(rec[1]);
        const std::vector<std::string_view> f = split(rec.substr(2), std::string_view("\0\1", 2));
        Event ev;
        ev.has_data = flags & 1;
        ev.data = f[0];
        if ((flags & 2) && f.size() > 1) ev.event = f[1];
        ev.has_id = (flags & 4) != 0;
        if (f.size() > 2) ev.id = f[2];
        if (flags & 8) ev.retry_ms = r >= 0 ? int64_t{r} * 12345 : r;
        if ((flags & 16) && f.size() > 3) ev.comment = f[3];

        const bool bad_event = ev.event.find_first_of("\r\n") != std::string_view::npos;
        const bool bad_id = ev.has_id && ev.id.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
        const bool bad_retry = ev.retry_ms < -1;
        const EncodeError expected = bad_event ? EncodeError::EventHasLineBreak
                                     : bad_id  ? EncodeError::IdHasLineBreakOrNul
                                     : bad_retry ? EncodeError::RetryNegative
                                                 : EncodeError::None;
        const std::string before = stream;
        const size_t size_hint = encoded_size(ev);
        const EncodeError e = encode(ev, stream);
        check(e == validate(ev), "encode() and validate() disagree");
        if ((e == EncodeError::None) != (expected == EncodeError::None)) die("encode accepted/refused the wrong event");
        if (e != EncodeError::None) {
            check(stream == before, "out changed on an encode error");
            check(size_hint == 0, "encoded_size not 0 on error");
            check(describe(e) != nullptr && describe(e)[0] != '\0', "empty error description");
            continue;
        }
        check(stream.size() - before.size() == size_hint, "encoded_size() differs from the bytes written");

        if (!ev.comment.empty()) {
            const std::string lines = normalise_breaks(ev.comment);
            for (std::string_view l : split(lines, "\n")) want_comments.emplace_back(l);
        }
        if (ev.has_id) last_id = ev.id;
        if (ev.retry_ms >= 0) want_retry = ev.retry_ms;
        if (ev.has_data) {
            want.push_back({ev.event.empty() ? "message" : std::string(ev.event), normalise_breaks(ev.data), last_id});
        }
        if (flags & 32) {
            encode_keepalive(stream);
            want_comments.emplace_back("keep-alive");
        }
    }

    SpecParser p;
    p.parse(stream);
    check(p.data_buf.empty() && p.type_buf.empty(), "stream ends inside an event");
    if (p.events != want) {
        std::fprintf(stderr, "parsed %zu events, wanted %zu\n", p.events.size(), want.size());
        for (size_t i = 0; i < std::min(p.events.size(), want.size()); ++i) {
            if (p.events[i] == want[i]) continue;
            std::fprintf(stderr, "event %zu: type [%s] vs [%s], id [%s] vs [%s], data %zu vs %zu bytes\n", i,
                         p.events[i].type.c_str(), want[i].type.c_str(), p.events[i].last_id.c_str(),
                         want[i].last_id.c_str(), p.events[i].data.size(), want[i].data.size());
            break;
        }
        die("parsed events differ from the encoded ones");
    }
    check(p.last_id == last_id, "last event id differs");
    check(p.retry == want_retry, "retry differs");
    // Comment lines (keep-alives included) carry the comment text after ':' and an
    // optional space; they come back in order.
    size_t k = 0;
    for (const std::string& c : p.comments) {
        std::string_view t(c);
        check(k < want_comments.size(), "unexpected comment line");
        if (!t.empty() && t[0] == ' ') t.remove_prefix(1);
        check(t == want_comments[k], "comment line changed");
        ++k;
    }
    check(k == want_comments.size(), "comment lines lost");
    return 0;
}
