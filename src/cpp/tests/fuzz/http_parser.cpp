// libFuzzer target: HTTP/1.1 request head parser + body reader (http/parser.h,
// http/body.h), driven the way a server connection drives them.
//
// Input: [limits byte] [split seed byte] [bytes from the client...]
//   limits byte bit 7 clear: default Limits; set: tiny limits from bits 0-6.
// A "connection" parses heads, reads bodies and moves on to pipelined requests,
// recording a trace (each head's fields, each body, each error with its status and
// the stream offset where it happened). The trace must be the same when the bytes
// arrive whole, one byte at a time (short inputs) and in pseudo-random pieces. Each
// call sees its bytes in an exactly-sized heap buffer, so ASan catches any read past
// what was received. For the first head, every prefix is also parsed on its own:
// -2 until the head is complete; once -1, always -1 with the same status.
// Invariants on every parsed head: views inside the head, tokens and field values made
// of allowed bytes, no CR/LF/NUL in values, Host exactly once on 1.1, framing facts
// consistent (chunked never together with Content-Length, Content-Length digits equal
// the value), limits respected. Bodies: never over max_body_size, Content-Length
// bodies exactly that long, status codes only 400/413/431 (501 and co. come from the
// head).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/body.h"
#include "http/parser.h"
#include "http/request.h"

namespace {

using namespace fasterapi::http;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "fuzz_http_parser: %s\n", what);
    std::abort();
}
void check(bool ok, const char* what) {
    if (!ok) die(what);
}

// Bytes copied into a heap block of exactly their size (ASan red zone right after).
struct Exact {
    std::unique_ptr<char[]> p;
    explicit Exact(std::string_view s) : p(new char[s.size() ? s.size() : 1]) {
        if (!s.empty()) std::memcpy(p.get(), s.data(), s.size());
    }
};

bool inside(std::string_view v, const char* base, size_t len) {
    return v.empty() || (v.data() >= base && v.data() + v.size() <= base + len);
}

void check_head(const Request& req, const char* base, long consumed, const Limits& lim) {
    const auto n = static_cast<size_t>(consumed);
    // path may also be a static "/" (absolute-form target without a path).
    check(inside(req.method, base, n) && inside(req.target, base, n) &&
              (inside(req.path, base, n) || req.path == "/") && inside(req.query, base, n),
          "request line view outside the head");
    check(!req.method.empty(), "empty method");
    for (char c : req.method) check(is_tchar(static_cast<unsigned char>(c)), "method is not a token");
    check(!req.target.empty(), "empty target");
    for (char c : req.target) check(is_target_char(static_cast<unsigned char>(c)), "bad byte in target");
    check(req.version_minor == 0 || req.version_minor == 1, "version other than 1.0/1.1");
    check(req.num_headers <= lim.max_headers && req.num_headers <= kMaxHeadersHardCap, "too many headers");
    check(req.target.size() <= lim.max_request_line, "request line over the limit");
    check(n <= lim.max_header_bytes + 2 * (kMaxLeadingEmptyLines + 1), "head over max_header_bytes");
    for (size_t i = 0; i < req.num_headers; ++i) {
        const Header& h = req.headers[i];
        check(inside(h.name, base, n) && inside(h.value, base, n), "header view outside the head");
        check(!h.name.empty(), "empty header name");
        for (char c : h.name) check(is_tchar(static_cast<unsigned char>(c)), "header name is not a token");
        for (char c : h.value) {
            const auto u = static_cast<unsigned char>(c);
            check(u == ' ' || u == '\t' || is_field_vchar(u), "CTL in a header value");
        }
        if (!h.value.empty()) {
            check(h.value.front() != ' ' && h.value.front() != '\t' && h.value.back() != ' ' && h.value.back() != '\t',
                  "header value not trimmed");
        }
    }
    if (req.version_minor == 1) check(req.count("host") == 1, "HTTP/1.1 head accepted without exactly one Host");
    check(req.count("host") <= 1, "several Host fields accepted");
    check(!(req.chunked && req.has_content_length), "chunked together with Content-Length");
    if (req.chunked) check(req.version_minor == 1 && req.has("transfer-encoding"), "chunked without TE on 1.1");
    if (!req.chunked) check(!req.has("transfer-encoding"), "Transfer-Encoding accepted but not chunked");
    if (req.has_content_length) {
        check(req.count("content-length") == 1, "several Content-Length fields accepted");
        const std::string_view v = req.find("content-length");
        uint64_t x = 0;
        check(!v.empty(), "empty Content-Length accepted");
        for (char c : v) {
            check(c >= '0' && c <= '9', "non-digit Content-Length accepted");
            check(x <= (UINT64_MAX - 9) / 10, "Content-Length overflow accepted");
            x = x * 10 + static_cast<uint64_t>(c - '0');
        }
        check(x == req.content_length, "content_length differs from the field");
    } else {
        check(!req.has("content-length"), "Content-Length field present but has_content_length false");
    }
    if (req.expect_continue) check(req.version_minor == 1, "expect_continue on HTTP/1.0");
}

std::string describe_head(const Request& req, const char* base, size_t n) {
    auto off = [&](std::string_view v) {
        if (!inside(v, base, n)) return "static:" + std::string(v);
        return std::to_string(v.empty() ? 0 : v.data() - base) + "+" + std::to_string(v.size());
    };
    std::string s = "head " + std::string(req.method) + " " + std::string(req.target) + " path=" + off(req.path) +
                    " query=" + off(req.query) + " v1." + std::to_string(req.version_minor);
    for (size_t i = 0; i < req.num_headers; ++i)
        s += " [" + std::string(req.headers[i].name) + ":" + std::string(req.headers[i].value) + "]";
    s += " ka=" + std::to_string(req.keep_alive) + " ch=" + std::to_string(req.chunked) +
         " cl=" + (req.has_content_length ? std::to_string(req.content_length) : "-") +
         " ex=" + std::to_string(req.expect_continue) + " up=" + std::to_string(req.upgrade_websocket);
    return s;
}

// One server connection: `pieces` are the sizes of successive reads.
std::vector<std::string> connection(std::string_view stream, const Limits& lim, const std::vector<size_t>& pieces) {
    std::vector<std::string> trace;
    std::string pending;  // received, not yet consumed
    size_t base_off = 0;  // stream offset of pending[0]
    size_t next = 0, piece = 0;
    enum { Head, Body } phase = Head;
    BodyReader body_reader;
    std::string body;
    int requests = 0;
    auto receive = [&]() -> bool {
        if (next >= stream.size()) return false;
        const size_t len = std::min(pieces[piece++ % pieces.size()], stream.size() - next);
        pending.append(stream.substr(next, len));
        next += len;
        return true;
    };
    while (requests < 8) {
        if (phase == Head) {
            if (pending.empty() && !receive()) break;
            Request req;
            Error err;
            const Exact buf(pending);
            const long r = parse_request_head(buf.p.get(), pending.size(), req, lim, err);
            if (r == -2) {
                if (!receive()) break;
                continue;
            }
            if (r == -1) {
                check(err.status >= 400 && err.status < 600 && err.reason && err.reason[0], "error without status/reason");
                trace.push_back("head-error " + std::to_string(err.status) + " " + err.reason);
                return trace;
            }
            check(r > 0 && static_cast<size_t>(r) <= pending.size(), "consumed outside the buffer");
            check_head(req, buf.p.get(), r, lim);
            trace.push_back(describe_head(req, buf.p.get(), static_cast<size_t>(r)) + " @" + std::to_string(base_off + r));
            Error serr;
            body.clear();
            const BodyReader::Status st = body_reader.start(req, lim, serr);
            pending.erase(0, static_cast<size_t>(r));
            base_off += static_cast<size_t>(r);
            ++requests;
            if (st == BodyReader::Status::Error) {
                check(serr.status == 413, "start() error other than 413");
                check(req.has_content_length && req.content_length > lim.max_body_size, "413 at start without a big Content-Length");
                trace.push_back("body-error 413 at start");
                return trace;
            }
            if (req.has_content_length) check(req.content_length <= lim.max_body_size, "big Content-Length not refused at start");
            phase = Body;
            // Content-Length and chunked bodies are the only framing of a request.
            if (!req.chunked && !req.has_content_length) check(st == BodyReader::Status::Done, "no-body request not Done");
            if (st == BodyReader::Status::Done) {
                trace.push_back("body 0 bytes");
                phase = Head;
                continue;
            }
            trace.push_back(req.chunked ? "chunked" : "length " + std::to_string(req.content_length));
            continue;
        }
        // Body.
        if (pending.empty() && !receive()) break;
        const Exact buf(pending);
        size_t consumed = 12345678;
        Error err;
        const BodyReader::Status st = body_reader.feed(buf.p.get(), pending.size(), consumed, body, err);
        check(consumed <= pending.size(), "body consumed more than given");
        check(body.size() <= lim.max_body_size, "body over max_body_size");
        check(body_reader.body_size() == body.size(), "body_size() differs from the bytes appended");
        if (st == BodyReader::Status::Error) {
            check(err.status == 400 || err.status == 413 || err.status == 431, "body error status");
            trace.push_back("body-error " + std::to_string(err.status) + " " + err.reason + " @" +
                            std::to_string(base_off + consumed) + " after " + std::to_string(body.size()));
            // Errors stick.
            size_t c2 = 0;
            Error e2;
            std::string b2;
            check(body_reader.feed(buf.p.get(), pending.size(), c2, b2, e2) == BodyReader::Status::Error &&
                      e2.status == err.status && b2.empty(),
                  "body error did not stick");
            return trace;
        }
        pending.erase(0, consumed);
        base_off += consumed;
        if (st == BodyReader::Status::NeedMore) {
            check(pending.empty(), "NeedMore left bytes unconsumed");
            if (!receive()) break;
            continue;
        }
        check(body_reader.done(), "Done but done() false");
        trace.push_back("body " + std::to_string(body.size()) + " bytes: " + body + " @" + std::to_string(base_off));
        phase = Head;
    }
    return trace;
}

void prefixes(std::string_view s, const Limits& lim) {
    long settled = -2;
    Error settled_err;
    const size_t n = s.size();
    const size_t step = n <= 600 ? 1 : n / 300;
    for (size_t len = 0; len <= n; len += (len + step > n && len != n) ? n - len : step) {
        const Exact buf(s.substr(0, len));
        Request req;
        Error err;
        const long r = parse_request_head(buf.p.get(), len, req, lim, err);
        check(r == -2 || r == -1 || (r > 0 && static_cast<size_t>(r) <= len), "bad return value");
        if (settled == -1) {
            check(r == -1, "prefix after an error is no longer an error");
            check(err.status == settled_err.status && std::strcmp(err.reason, settled_err.reason) == 0,
                  "longer prefix gives a different error");
        } else if (settled > 0) {
            check(r == settled, "longer prefix gives a different head size");
        } else {
            settled = r;
            settled_err = err;
        }
        if (len == n) break;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const uint8_t l = data[0];
    Limits lim;
    if (l & 0x80) {
        lim.max_request_line = 4 + (l & 3) * 24;
        lim.max_header_bytes = 24 + ((l >> 2) & 3) * 80;
        lim.max_headers = ((l >> 4) & 3) * 2;
        lim.max_body_size = (l & 0x40) ? 7 : 300;
    }
    uint32_t seed = data[1];
    const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);

    prefixes(stream, lim);

    const std::vector<std::string> whole = connection(stream, lim, {stream.size() ? stream.size() : 1});
    std::vector<size_t> pieces;
    for (int i = 0; i < 16; ++i) {
        seed = seed * 1103515245u + 12345u;
        const uint32_t r = seed >> 16;
        pieces.push_back((r & 3) == 0 ? 1 + (r >> 2) % 300 : 1 + (r >> 2) % 9);
    }
    const std::vector<std::string> split = connection(stream, lim, pieces);
    auto compare = [&](const std::vector<std::string>& other, const char* what) {
        if (other == whole) return;
        const size_t m = std::min(other.size(), whole.size());
        size_t i = 0;
        while (i < m && other[i] == whole[i]) ++i;
        std::fprintf(stderr, "step %zu:\n  whole: %s\n  %s: %s\n", i, i < whole.size() ? whole[i].c_str() : "(end)",
                     what, i < other.size() ? other[i].c_str() : "(end)");
        die("whole and split connections disagree");
    };
    compare(split, "split");
    if (stream.size() <= 400) compare(connection(stream, lim, {1}), "bytewise");
    return 0;
}
