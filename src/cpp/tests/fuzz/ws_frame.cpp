// libFuzzer target: the server-side WebSocket Receiver (ws/receiver.h), with and
// without permessage-deflate.
//
// Input: [config byte] [split seed byte] [wire bytes...]
//   config bit 0     attach an Inflater (permessage-deflate negotiated)
//   config bit 1     the Inflater has no context takeover
//   config bits 2-4  Inflater window bits 8 + v
//   config bit 5     client side (frames must NOT be masked)
//   config bits 6-7  max_message_size: 16, 1000, 65536, 1 MiB
//   config == 0xFF   round-trip mode instead (see below)
//
// Checks, on arbitrary bytes:
//  - the same input fed whole and cut into pseudo-random pieces (each piece in its
//    own exactly-sized heap buffer, so ASan sees any read past a piece) gives the
//    same events, in the same order, and the same final state;
//  - every Text message and close reason is valid UTF-8; no message exceeds the
//    limit; control payloads are <= 125 bytes; close codes are valid on the wire
//    (or 1005 with an empty reason); error codes are 1002/1007/1009;
//  - nothing is delivered after an error or a close, and feed() consumes nothing
//    once the receiver has stopped.
// Round-trip mode: the rest of the input is split into messages that are built with
// the frame builder (masked, fragmented, optionally compressed with a Deflater) and
// must come out of the Receiver unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ws/builder.h"
#include "ws/close_codes.h"
#include "ws/deflate.h"
#include "ws/receiver.h"
#include "ws/utf8.h"

namespace {

using namespace fasterapi::ws;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "fuzz_ws_frame: %s\n", what);
    std::abort();
}
void check(bool ok, const char* what) {
    if (!ok) die(what);
}

bool valid_utf8(std::string_view s) {
    return utf8_valid(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

struct Recorder {
    size_t max_message = 0;
    bool stopped = false;
    std::vector<std::string> events;

    void event(std::string e) {
        check(!stopped, "callback after on_close/on_error");
        events.push_back(std::move(e));
    }
    void on_message(Opcode op, std::string_view p) {
        check(op == Opcode::Text || op == Opcode::Binary, "on_message with a non-data opcode");
        check(p.size() <= max_message, "message larger than max_message_size delivered");
        if (op == Opcode::Text) check(valid_utf8(p), "invalid UTF-8 text message delivered");
        event((op == Opcode::Text ? "T:" : "B:") + std::string(p));
    }
    void on_ping(std::string_view p) {
        check(p.size() <= 125, "ping payload > 125");
        event("ping:" + std::string(p));
    }
    void on_pong(std::string_view p) {
        check(p.size() <= 125, "pong payload > 125");
        event("pong:" + std::string(p));
    }
    void on_close(uint16_t code, std::string_view reason) {
        if (code == close_code::NoStatus) {
            check(reason.empty(), "close 1005 with a reason");
        } else {
            check(is_valid_close_code_on_wire(code), "invalid close code delivered");
        }
        check(reason.size() <= 123, "close reason > 123 bytes");
        check(valid_utf8(reason), "invalid UTF-8 close reason delivered");
        event("close:" + std::to_string(code) + ":" + std::string(reason));
        stopped = true;
    }
    void on_error(uint16_t code, const char* reason) {
        check(code == close_code::ProtocolError || code == close_code::InvalidPayload ||
                  code == close_code::MessageTooBig,
              "unexpected error close code");
        check(reason != nullptr && reason[0] != '\0', "error without a reason");
        event("error:" + std::to_string(code) + ":" + reason);
        stopped = true;
    }
};

struct Config {
    ReceiverConfig rx;
    bool deflate = false;
    bool no_context_takeover = false;
    int window_bits = 15;
};

struct Run {
    std::vector<std::string> events;
    bool failed = false;
    bool closed = false;
};

// Feeds `wire` in pieces (sizes from `seed`; 0 = one piece), each copied into its own
// heap buffer of exactly that size: the receiver unmasks in place and must not read
// past the bytes it was given.
Run run(const Config& c, const uint8_t* wire, size_t n, uint32_t seed, bool whole) {
    std::unique_ptr<Inflater> inflater;
    if (c.deflate) inflater = std::make_unique<Inflater>(c.window_bits, c.no_context_takeover);
    Receiver<Recorder> rx(c.rx, inflater.get());
    Recorder rec;
    rec.max_message = c.rx.max_message_size;
    size_t pos = 0;
    while (pos < n) {
        size_t len = n - pos;
        if (!whole) {
            seed = seed * 1103515245u + 12345u;
            // Mostly tiny pieces (header bytes split), sometimes larger ones.
            const uint32_t r = seed >> 16;
            const size_t want = (r & 3) == 0 ? 1 + (r >> 2) % 200 : 1 + (r >> 2) % 7;
            if (want < len) len = want;
        }
        std::unique_ptr<uint8_t[]> piece(new uint8_t[len]);
        std::memcpy(piece.get(), wire + pos, len);
        const bool was_stopped = rx.failed() || rx.closed();
        const size_t used = rx.feed(piece.get(), len, rec);
        check(used <= len, "feed consumed more than it was given");
        if (was_stopped) check(used == 0, "feed consumed bytes after the receiver stopped");
        if (!rx.failed() && !rx.closed()) check(used == len, "feed left bytes without stopping");
        pos += len;
        if (rx.failed() || rx.closed()) {
            check(rec.stopped, "receiver stopped without on_close/on_error");
            // One more feed of the same bytes must be ignored.
            check(rx.feed(piece.get(), len, rec) == 0, "feed after stop consumed bytes");
            break;
        }
    }
    check(rx.failed() == (!rec.events.empty() && rec.events.back().rfind("error:", 0) == 0),
          "failed() disagrees with the last event");
    check(rx.closed() == (!rec.events.empty() && rec.events.back().rfind("close:", 0) == 0),
          "closed() disagrees with the last event");
    return Run{std::move(rec.events), rx.failed(), rx.closed()};
}

void differential(const uint8_t* data, size_t size) {
    const uint8_t cfg = data[0];
    const uint32_t seed = data[1];
    static const size_t kLimits[4] = {16, 1000, 65536, 1u << 20};
    Config c;
    c.deflate = cfg & 1;
    c.no_context_takeover = (cfg & 2) != 0;
    c.window_bits = 8 + ((cfg >> 2) & 7);
    c.rx.require_mask = (cfg & 0x20) == 0;
    c.rx.max_message_size = kLimits[cfg >> 6];
    const Run a = run(c, data + 2, size - 2, seed, true);
    const Run b = run(c, data + 2, size - 2, seed, false);
    if (a.events != b.events) {
        const size_t m = std::min(a.events.size(), b.events.size());
        size_t i = 0;
        while (i < m && a.events[i] == b.events[i]) ++i;
        std::fprintf(stderr, "event %zu differs: whole=%s split=%s\n", i,
                     i < a.events.size() ? a.events[i].substr(0, 80).c_str() : "(none)",
                     i < b.events.size() ? b.events[i].substr(0, 80).c_str() : "(none)");
        die("whole and split feeds disagree");
    }
    check(a.failed == b.failed && a.closed == b.closed, "final state differs between whole and split");
}

// Round trip: builder -> Receiver must give the messages back.
void round_trip(const uint8_t* data, size_t size) {
    if (size < 3) return;
    const uint8_t opt = data[1];
    const bool compress = opt & 1;
    const bool nct = (opt & 2) != 0;
    const int wbits = 9 + ((opt >> 2) % 7);
    const size_t frag = (opt >> 5) * 3;  // 0 = unfragmented
    std::string_view rest(reinterpret_cast<const char*>(data + 2), size - 2);
    // Messages separated by 0xFF; a leading 0x00 byte in a message makes it Binary.
    std::vector<std::pair<Opcode, std::string>> msgs;
    while (true) {
        const size_t cut = rest.find('\xff');
        std::string m(rest.substr(0, cut));
        Opcode op = Opcode::Text;
        if (!m.empty() && m[0] == '\0') {
            op = Opcode::Binary;
            m.erase(0, 1);
        } else if (!valid_utf8(m)) {
            op = Opcode::Binary;
        }
        msgs.emplace_back(op, std::move(m));
        if (cut == std::string_view::npos) break;
        rest.remove_prefix(cut + 1);
    }
    Deflater deflater(wbits, 8, nct, 1);
    std::string wire;
    for (size_t i = 0; i < msgs.size(); ++i) {
        const auto& [op, m] = msgs[i];
        std::string payload = m;
        if (compress) {
            payload.clear();
            deflater.compress(m, payload);
        }
        append_message(wire, op, payload, frag, compress, /*masked=*/true);
        // A ping between messages (control frames may also interleave fragments).
        if (i % 2 == 1) append_client_frame(wire, Opcode::Ping, std::string_view(m).substr(0, 125));
    }
    append_close(wire, close_code::Normal, "bye", /*masked=*/true);

    Config c;
    c.deflate = compress;
    c.no_context_takeover = nct;
    c.window_bits = wbits;
    c.rx.max_message_size = 1u << 20;
    const Run r = run(c, reinterpret_cast<const uint8_t*>(wire.data()), wire.size(), opt, false);
    std::vector<std::string> want;
    for (size_t i = 0; i < msgs.size(); ++i) {
        want.push_back((msgs[i].first == Opcode::Text ? "T:" : "B:") + msgs[i].second);
        if (i % 2 == 1) want.push_back("ping:" + msgs[i].second.substr(0, 125));
    }
    want.push_back("close:1000:bye");
    check(r.events == want, "round trip through builder and Receiver lost or changed a message");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    if (data[0] == 0xFF) {
        round_trip(data, size);
    } else {
        differential(data, size);
    }
    return 0;
}
