// SSE encoder: exact bytes, refused fields, and a WHATWG-conformant
// EventSource parser (written here from the HTML standard's "Parsing an event
// stream" / "Interpreting an event stream") run over the encoded bytes of many
// events: the dispatched events must equal what was encoded.
#include "sse/encoder.h"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace fasterapi::sse;

namespace {

struct Dispatched {
    std::string type, data, last_event_id;
    bool operator==(const Dispatched&) const = default;
};

void PrintTo(const Dispatched& d, std::ostream* os) {
    *os << "{type=" << testing::PrintToString(d.type) << " data=" << testing::PrintToString(d.data)
        << " id=" << testing::PrintToString(d.last_event_id) << "}";
}

struct EventSourceParser {
    std::vector<Dispatched> events;
    std::vector<int64_t> retries;
    std::string data, type, last_id_buffer, last_event_id;

    void parse(std::string_view stream) {
        if (stream.substr(0, 3) == "\xEF\xBB\xBF") stream.remove_prefix(3);  // one leading BOM
        size_t i = 0;
        while (i < stream.size()) {
            size_t brk = stream.find_first_of("\r\n", i);
            if (brk == std::string_view::npos) return;  // incomplete line: never processed
            line(stream.substr(i, brk - i));
            i = brk + 1;
            if (stream[brk] == '\r' && i < stream.size() && stream[i] == '\n') ++i;
        }
    }
    void line(std::string_view l) {
        if (l.empty()) return dispatch();
        if (l[0] == ':') return;
        size_t colon = l.find(':');
        std::string_view field = l, value;
        if (colon != std::string_view::npos) {
            field = l.substr(0, colon);
            value = l.substr(colon + 1);
            if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
        }
        if (field == "event") {
            type = value;
        } else if (field == "data") {
            data.append(value);
            data.push_back('\n');
        } else if (field == "id") {
            if (value.find('\0') == std::string_view::npos) last_id_buffer = value;
        } else if (field == "retry") {
            if (!value.empty() && value.find_first_not_of("0123456789") == std::string_view::npos)
                retries.push_back(std::stoll(std::string(value)));
        }
    }
    void dispatch() {
        last_event_id = last_id_buffer;
        if (data.empty()) {
            type.clear();
            return;
        }
        if (data.back() == '\n') data.pop_back();
        events.push_back({type.empty() ? "message" : type, data, last_event_id});
        data.clear();
        type.clear();
    }
};

std::string normalize_newlines(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r') {
            out.push_back('\n');
            if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

std::string enc(const Event& ev) {
    std::string out;
    EXPECT_EQ(encode(ev, out), EncodeError::None);
    EXPECT_EQ(out.size(), encoded_size(ev));
    return out;
}

}  // namespace

TEST(SseEncoder, ExactBytes) {
    Event ev;
    ev.data = "hello";
    EXPECT_EQ(enc(ev), "data: hello\n\n");
    ev.data = "";
    EXPECT_EQ(enc(ev), "data:\n\n");
    ev.data = "a\nb\r\nc\rd";
    EXPECT_EQ(enc(ev), "data: a\ndata: b\ndata: c\ndata: d\n\n");
    ev.data = "a\n";
    EXPECT_EQ(enc(ev), "data: a\ndata:\n\n");
    ev.data = "\r\n";
    EXPECT_EQ(enc(ev), "data:\ndata:\n\n");
    ev.data = " lead";
    EXPECT_EQ(enc(ev), "data:  lead\n\n");
}

TEST(SseEncoder, FieldOrder) {
    Event ev;
    ev.data = "a\nb";
    ev.event = "update";
    ev.id = "42";
    ev.has_id = true;
    ev.retry_ms = 1500;
    ev.comment = "note";
    EXPECT_EQ(enc(ev), ": note\nid: 42\nevent: update\nretry: 1500\ndata: a\ndata: b\n\n");
}

TEST(SseEncoder, OptionalFields) {
    Event ev;
    ev.has_data = false;
    ev.comment = "only a comment";
    EXPECT_EQ(enc(ev), ": only a comment\n\n");
    Event r;
    r.has_data = false;
    r.retry_ms = 0;
    EXPECT_EQ(enc(r), "retry: 0\n\n");
    Event id;
    id.has_id = true;  // empty id: resets the client's last event id
    id.data = "x";
    EXPECT_EQ(enc(id), "id:\ndata: x\n\n");
    Event no_id;
    no_id.id = "ignored without has_id";
    no_id.data = "x";
    EXPECT_EQ(enc(no_id), "data: x\n\n");
}

TEST(SseEncoder, RefusesFieldInjection) {
    const char* bad_events[] = {"a\nb", "a\rb", "a\r\nb", "\n", "x\ndata: injected"};
    for (const char* name : bad_events) {
        Event ev;
        ev.data = "d";
        ev.event = name;
        std::string out = "keep";
        EXPECT_EQ(encode(ev, out), EncodeError::EventHasLineBreak) << name;
        EXPECT_EQ(out, "keep");
        EXPECT_EQ(encoded_size(ev), 0u);
    }
    for (std::string_view id : {std::string_view("1\n2"), std::string_view("1\r"), std::string_view("\r\n"),
                                std::string_view("a\0b", 3)}) {
        Event ev;
        ev.data = "d";
        ev.id = id;
        ev.has_id = true;
        std::string out = "keep";
        EXPECT_EQ(encode(ev, out), EncodeError::IdHasLineBreakOrNul);
        EXPECT_EQ(out, "keep");
    }
    Event ev;
    ev.retry_ms = -2;
    std::string out;
    EXPECT_EQ(encode(ev, out), EncodeError::RetryNegative);
    EXPECT_TRUE(out.empty());
    ev.event = std::string_view("nul\0ok", 6);  // NUL in an event name injects nothing
    ev.retry_ms = -1;
    EXPECT_EQ(encode(ev, out), EncodeError::None);
}

TEST(SseEncoder, Describe) {
    EXPECT_STREQ(describe(EncodeError::EventHasLineBreak), "event name must not contain CR or LF");
    EXPECT_STREQ(describe(EncodeError::IdHasLineBreakOrNul), "event id must not contain CR, LF or NUL");
    EXPECT_STREQ(describe(EncodeError::RetryNegative), "retry must be a non-negative number of milliseconds");
    EXPECT_STREQ(describe(EncodeError::None), "ok");
}

TEST(SseEncoder, CommentsAndKeepAlive) {
    std::string out;
    encode_comment("one\ntwo\r\nthree", out);
    EXPECT_EQ(out, ": one\n: two\n: three\n");
    out.clear();
    encode_comment("", out);
    EXPECT_EQ(out, ":\n");
    out.clear();
    encode_keepalive(out);
    EXPECT_EQ(out, ": keep-alive\n\n");
    // A multi-line comment cannot smuggle a field.
    Event ev;
    ev.has_data = false;
    ev.comment = "x\ndata: injected\r\nevent: evil\rid: 9";
    EventSourceParser p;
    p.parse(enc(ev));
    EXPECT_TRUE(p.events.empty());
    EXPECT_EQ(p.last_event_id, "");
}

TEST(SseEncoder, WhatwgParserRoundTrip) {
    std::mt19937 rng(2024);  // fixed seed: reproducible
    const std::vector<std::string> pieces = {"a", "Z", " ", "  ", ":", "data:", "id: 3", "event:x", "\n", "\r",
                                             "\r\n", "\n\n", "\r\r", "\xc3\xa9", "\xe2\x82\xac", "\t", "retry: 5",
                                             std::string("\0", 1), "\xEF\xBB\xBF"};
    auto random_text = [&](size_t max_pieces, bool line_breaks, bool nul) {
        std::string s;
        size_t n = rng() % (max_pieces + 1);
        for (size_t i = 0; i < n; ++i) {
            const std::string& p = pieces[rng() % pieces.size()];
            if (!line_breaks && p.find_first_of("\r\n") != std::string::npos) continue;
            if (!nul && p.find('\0') != std::string::npos) continue;
            s += p;
        }
        return s;
    };
    for (int round = 0; round < 200; ++round) {
        std::string stream;
        std::vector<Dispatched> expected;
        std::vector<int64_t> expected_retries;
        std::string last_id;
        std::vector<std::string> keep;  // owns the strings the events view
        keep.reserve(400);
        int n = 1 + static_cast<int>(rng() % 8);
        for (int k = 0; k < n; ++k) {
            Event ev;
            keep.push_back(random_text(8, true, true));
            ev.data = keep.back();
            keep.push_back(random_text(3, false, true));
            ev.event = keep.back();
            if (rng() % 2) {
                keep.push_back(random_text(3, false, false));
                ev.id = keep.back();
                ev.has_id = true;
                last_id = keep.back();
            }
            if (rng() % 4 == 0) {
                ev.retry_ms = static_cast<int64_t>(rng() % 100000);
                expected_retries.push_back(ev.retry_ms);
            }
            if (rng() % 4 == 0) {
                keep.push_back(random_text(4, true, true));
                ev.comment = keep.back();
            }
            stream += enc(ev);
            if (rng() % 3 == 0) encode_keepalive(stream);
            expected.push_back({ev.event.empty() ? "message" : std::string(ev.event), normalize_newlines(ev.data),
                                last_id});
        }
        EventSourceParser p;
        p.parse(stream);
        EXPECT_EQ(p.events, expected) << testing::PrintToString(stream);
        EXPECT_EQ(p.retries, expected_retries);
    }
}

TEST(SseEncoder, WhatwgParserEdgeCases) {
    for (std::string data : {"", "\n", "\n\n", "\r\r\n", "x\r", ":", ": not a comment", "data: x", " ", "\xEF\xBB\xBFx"}) {
        Event ev;
        ev.data = data;
        ev.event = " spaced";
        ev.id = " 1";
        ev.has_id = true;
        EventSourceParser p;
        p.parse(enc(ev));
        ASSERT_EQ(p.events.size(), 1u) << testing::PrintToString(data);
        EXPECT_EQ(p.events[0], (Dispatched{" spaced", normalize_newlines(data), " 1"}));
    }
}
