// libFuzzer target: permessage-deflate (ws/deflate.h).
//
// Input: [mode byte] ...
//  mode % 3 == 0  negotiation: [options byte] [Sec-WebSocket-Extensions value...]
//     negotiate_deflate must be deterministic and its answer consistent: accepted iff a
//     response; the response is "permessage-deflate" + known parameters, each once,
//     whose values are the agreed params; client_max_window_bits only when the client
//     offered it (RFC 7692 7.1.2.2); the server's window never exceeds our option; the
//     client window we inflate with is 15 unless the client offered to limit it.
//  mode % 3 == 1  inflate: [options byte] [limit byte] [compressed bytes...]
//     One message through Inflater::feed (random pieces) + finish with a small
//     max_total, compared with a plain zlib reference: same bytes when Ok, TooLarge iff
//     the reference output exceeds max_total (and never more than max_total + kMaxStep
//     appended), Corrupt iff zlib reports an error first. Then a second message
//     (context takeover or not) must not crash.
//  mode % 3 == 2  round trip: [options byte] [messages separated by 0xFE...]
//     Deflater -> Inflater (random pieces) gives every message back, with and without
//     context takeover; a limit of exactly the message size is Ok, one less TooLarge.
#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "ws/deflate.h"

namespace {

using namespace fasterapi::ws;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "fuzz_ws_deflate: %s\n", what);
    std::abort();
}
void check(bool ok, const char* what) {
    if (!ok) die(what);
}

struct Lcg {
    uint32_t s;
    size_t next(size_t max) {  // 1..max
        s = s * 1103515245u + 12345u;
        return 1 + (s >> 16) % max;
    }
};

std::string lower(std::string_view s) {
    std::string o(s);
    for (char& c : o)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return o;
}

void negotiation(const uint8_t* data, size_t size) {
    if (size < 1) return;
    const uint8_t o = data[0];
    DeflateOptions opts;
    opts.enabled = (o & 1) == 0;
    opts.server_no_context_takeover = (o & 2) != 0;
    opts.client_no_context_takeover = (o & 4) != 0;
    opts.server_max_window_bits = 9 + ((o >> 3) & 7) % 7;  // 9..15
    static const int kClient[4] = {15, 12, 9, 10};
    opts.client_max_window_bits = kClient[o >> 6];
    const std::string_view header(reinterpret_cast<const char*>(data + 1), size - 1);

    const NegotiationResult r = negotiate_deflate(header, opts);
    const NegotiationResult r2 = negotiate_deflate(header, opts);
    check(r.accepted == r2.accepted && r.response == r2.response, "negotiate_deflate is not deterministic");
    check(r.accepted == !r.response.empty(), "accepted disagrees with the response");
    if (!r.accepted) return;
    check(opts.enabled, "accepted while disabled");

    const DeflateParams& p = r.params;
    // Parse our own response: "permessage-deflate" *( "; " name [ "=" digits ] ).
    std::string_view rest(r.response);
    const std::string_view kName = "permessage-deflate";
    check(rest.substr(0, kName.size()) == kName, "response is not permessage-deflate");
    rest.remove_prefix(kName.size());
    bool s_nct = false, c_nct = false;
    int s_bits = -1, c_bits = -1;
    while (!rest.empty()) {
        check(rest.substr(0, 2) == "; ", "response parameter separator");
        rest.remove_prefix(2);
        const size_t end = std::min(rest.find(';'), rest.size());
        std::string_view param = rest.substr(0, end);
        rest.remove_prefix(end);
        const size_t eq = param.find('=');
        const std::string_view name = param.substr(0, eq);
        int value = -1;
        if (eq != std::string_view::npos) {
            const std::string_view v = param.substr(eq + 1);
            check(!v.empty() && v.size() <= 2 && v[0] != '0', "window bits value form");
            value = 0;
            for (char ch : v) {
                check(ch >= '0' && ch <= '9', "window bits value not decimal");
                value = value * 10 + (ch - '0');
            }
            check(value >= 8 && value <= 15, "window bits value out of 8..15");
        }
        if (name == "server_no_context_takeover") {
            check(!s_nct && value == -1, "server_no_context_takeover twice or with a value");
            s_nct = true;
        } else if (name == "client_no_context_takeover") {
            check(!c_nct && value == -1, "client_no_context_takeover twice or with a value");
            c_nct = true;
        } else if (name == "server_max_window_bits") {
            check(s_bits == -1 && value != -1, "server_max_window_bits twice or without value");
            s_bits = value;
        } else if (name == "client_max_window_bits") {
            check(c_bits == -1 && value != -1, "client_max_window_bits twice or without value");
            c_bits = value;
        } else {
            die("unknown parameter in the response");
        }
    }
    check(p.server_no_context_takeover == s_nct, "server_no_context_takeover: params vs response");
    check(p.client_no_context_takeover == c_nct, "client_no_context_takeover: params vs response");
    if (opts.server_no_context_takeover) check(s_nct, "our server_no_context_takeover option not applied");
    if (opts.client_no_context_takeover) check(c_nct, "our client_no_context_takeover option not applied");
    check(p.server_max_window_bits == (s_bits == -1 ? 15 : s_bits), "server window: params vs response");
    check(p.server_max_window_bits <= opts.server_max_window_bits, "server window above our option");
    check(p.server_max_window_bits >= 9, "server window below 9 (zlib cannot deflate with 8)");
    const bool client_offered = lower(header).find("client_max_window_bits") != std::string::npos;
    if (c_bits != -1) {
        check(client_offered, "client_max_window_bits answered but not offered (RFC 7692 7.1.2.2)");
        check(p.client_max_window_bits == c_bits, "client window: params vs response");
    }
    if (!client_offered) check(p.client_max_window_bits == 15, "inflate window below 15 without a client limit");
    check(p.client_max_window_bits >= 8 && p.client_max_window_bits <= 15, "client window out of range");
}

// zlib reference for one message: inflate data + 00 00 ff ff with unlimited output
// (stopping one byte past the limit), "all input consumed without error" = Ok.
InflateStatus reference_inflate(const uint8_t* data, size_t len, size_t max_total, std::string& out) {
    if (len == 0) return InflateStatus::Ok;  // empty payload: no deflate data, no tail
    std::string in(reinterpret_cast<const char*>(data), len);
    in.append("\x00\x00\xff\xff", 4);
    z_stream z{};
    // The Inflater always uses a 32 KiB window, whatever was negotiated (ws/deflate.h).
    check(inflateInit2(&z, -15) == Z_OK, "inflateInit2");
    z.next_in = reinterpret_cast<Bytef*>(in.data());
    z.avail_in = static_cast<uInt>(in.size());
    InflateStatus st = InflateStatus::Ok;
    for (;;) {
        char buf[4096];
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = sizeof buf;
        const int rc = inflate(&z, Z_SYNC_FLUSH);
        out.append(buf, sizeof buf - z.avail_out);
        if (out.size() > max_total) {
            st = InflateStatus::TooLarge;
            break;
        }
        if (rc == Z_STREAM_END) break;
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            st = InflateStatus::Corrupt;
            break;
        }
        if (z.avail_in == 0 && z.avail_out != 0) break;
        if (rc == Z_BUF_ERROR && z.avail_out != 0) break;
    }
    inflateEnd(&z);
    return st;
}

InflateStatus feed_pieces(Inflater& inf, const uint8_t* p, size_t n, std::string& out, size_t max_total, Lcg& rng) {
    size_t pos = 0;
    while (pos < n) {
        const size_t len = std::min(n - pos, rng.next(64));
        const InflateStatus st = inf.feed(p + pos, len, out, max_total);
        if (st != InflateStatus::Ok) return st;
        pos += len;
    }
    return inf.finish(out, max_total);
}

void inflate_arbitrary(const uint8_t* data, size_t size) {
    if (size < 2) return;
    const int wbits = 8 + (data[0] & 7);
    const bool nct = (data[0] & 8) != 0;
    const size_t max_total = size_t{data[1]} * 97;  // 0 .. ~24 KiB: small limits
    const uint8_t* p = data + 2;
    const size_t n = size - 2;
    Lcg rng{data[0] * 31u + data[1]};

    std::string want;
    const InflateStatus ref = reference_inflate(p, n, max_total, want);
    Inflater inf(wbits, nct);
    std::string got;
    const InflateStatus st = feed_pieces(inf, p, n, got, max_total, rng);
    check(got.size() <= max_total + Inflater::kMaxStep, "inflate appended more than max_total + kMaxStep");
    if (st != ref) {
        std::fprintf(stderr, "Inflater=%d reference=%d (got %zu bytes, reference %zu, max %zu)\n",
                     static_cast<int>(st), static_cast<int>(ref), got.size(), want.size(), max_total);
        die("Inflater verdict differs from the zlib reference");
    }
    if (st == InflateStatus::Ok) {
        check(got.size() <= max_total, "Ok with more than max_total bytes");
        check(got == want, "Inflater output differs from the zlib reference");
    }
    // The stream must be usable (or cleanly reset) for the next message.
    std::string again;
    (void)feed_pieces(inf, p, n, again, max_total, rng);
    check(again.size() <= max_total + Inflater::kMaxStep, "second message exceeded the bound");
}

void round_trip(const uint8_t* data, size_t size) {
    if (size < 1) return;
    const uint8_t o = data[0];
    const int wbits = 9 + (o & 7) % 7;
    const bool nct = (o & 8) != 0;
    const int level = (o >> 4) % 10;
    const int mem_level = 1 + (o >> 4) % 9;
    Lcg rng{o};
    std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
    std::vector<std::string> msgs;
    for (;;) {
        const size_t cut = rest.find('\xfe');
        msgs.emplace_back(rest.substr(0, cut));
        if (cut == std::string_view::npos) break;
        rest.remove_prefix(cut + 1);
    }
    Deflater def(wbits, mem_level, nct, level);
    Inflater inf(wbits, nct);
    for (size_t i = 0; i < msgs.size(); ++i) {
        const std::string& m = msgs[i];
        std::string wire;
        def.compress(m, wire);
        check(!wire.empty(), "compressed message is empty (RFC 7692 7.2.3.6 wants 0x00)");
        check(wire.size() < 4 || wire.compare(wire.size() - 4, 4, std::string("\x00\x00\xff\xff", 4)) != 0,
              "compressed message still ends with 00 00 ff ff");
        const bool last = i + 1 == msgs.size();
        std::string out;
        if (last && !m.empty()) {  // exactly at the limit minus one: refused
            const InflateStatus st =
                feed_pieces(inf, reinterpret_cast<const uint8_t*>(wire.data()), wire.size(), out, m.size() - 1, rng);
            check(st == InflateStatus::TooLarge, "message one byte over max_total not refused");
            check(out.size() <= m.size() - 1 + Inflater::kMaxStep, "TooLarge appended past the bound");
            return;
        }
        const InflateStatus st =
            feed_pieces(inf, reinterpret_cast<const uint8_t*>(wire.data()), wire.size(), out, m.size(), rng);
        check(st == InflateStatus::Ok, "round trip: inflate failed at a limit equal to the size");
        check(out == m, "round trip changed the message");
        if (nct && (o & 0x80)) {  // per-message memory release is allowed without takeover
            def.release();
            inf.release();
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    switch (data[0] % 3) {
        case 0: negotiation(data + 1, size - 1); break;
        case 1: inflate_arbitrary(data + 1, size - 1); break;
        default: round_trip(data + 1, size - 1); break;
    }
    return 0;
}
