// libFuzzer target: the server-side WebSocket Receiver (ws/receiver.h), with and
// without permessage-deflate.
//
// Input: [config byte] [split seed byte] [wire bytes...]
//   split seed bit 7: payloads are given unmasked (the harness masks them with each
//                     frame's key), which lets the fuzzer steer payload contents
//   config bit 0     attach an Inflater (permessage-deflate negotiated)
//   config bit 1     the Inflater has no context takeover
//   config bits 2-4  Inflater window bits 8 + v
//   config bit 5     client side (frames must NOT be masked)
//   config bits 6-7  max_message_size: 16, 1000, 65536, 1 MiB
//   config == 0xFF   round-trip mode instead (see below)
//
// Checks, on arbitrary bytes:
//  - without deflate, the events equal those of a reference model written from the
//    RFC over the whole input (error reasons aside);
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

#include "ws/builder.h"
#include "ws/close_codes.h"
#include "ws/deflate.h"
#include "ws/frame.h"
#include "ws/mask.h"
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

// Reference model of RFC 6455 5.2-5.6 for the uncompressed case, written straight from
// the RFC over the whole input (no incremental state): the Receiver must produce the
// same events, and the same close codes on errors (reasons may differ).
std::vector<std::string> model(const ReceiverConfig& cfg, const uint8_t* d, size_t n) {
    std::vector<std::string> ev;
    auto err = [&](uint16_t code) { ev.push_back("error:" + std::to_string(code)); return ev; };
    size_t pos = 0, msg_size = 0;
    bool in_msg = false;
    Opcode msg_op = Opcode::Binary;
    std::string msg;
    Utf8Validator utf8;
    while (n - pos >= 2) {
        const uint8_t b0 = d[pos], b1 = d[pos + 1];
        const bool fin = b0 & 0x80, rsv = (b0 & 0x70) != 0, masked = b1 & 0x80;
        const uint8_t op = b0 & 0x0F, len7 = b1 & 0x7F;
        const size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
        const size_t hdr = 2 + ext + (masked ? 4 : 0);
        if (n - pos < hdr) break;
        uint64_t len = len7;
        if (ext) {
            len = 0;
            for (size_t i = 0; i < ext; ++i) len = (len << 8) | d[pos + 2 + i];
            if (ext == 8 && (len >> 63)) return err(1002);
        }
        uint8_t key[4] = {0, 0, 0, 0};
        if (masked) std::memcpy(key, d + pos + 2 + ext, 4);
        pos += hdr;
        const bool control = op >= 8;
        if (rsv) return err(1002);  // no extension negotiated
        if (!(op <= 2 || (op >= 8 && op <= 10))) return err(1002);
        if (masked != cfg.require_mask) return err(1002);
        if (control && (!fin || len > 125)) return err(1002);
        if (op == 0 && !in_msg) return err(1002);
        if ((op == 1 || op == 2) && in_msg) return err(1002);
        if (!control && len > cfg.max_message_size - (op == 0 ? msg_size : 0)) return err(1009);
        const size_t avail = static_cast<size_t>(std::min<uint64_t>(len, n - pos));
        std::string payload(reinterpret_cast<const char*>(d + pos), avail);
        for (size_t i = 0; i < avail; ++i) payload[i] = static_cast<char>(payload[i] ^ key[i % 4]);
        pos += avail;
        if (control) {
            if (avail < len) break;
            if (op == 9) ev.push_back("ping:" + payload);
            if (op == 10) ev.push_back("pong:" + payload);
            if (op != 8) continue;
            if (len == 1) return err(1002);
            if (len == 0) {
                ev.push_back("close:1005:");
                return ev;
            }
            const auto code = static_cast<uint16_t>((uint8_t(payload[0]) << 8) | uint8_t(payload[1]));
            const bool known = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                               (code >= 3000 && code <= 4999);
            if (!known) return err(1002);
            if (!valid_utf8(std::string_view(payload).substr(2))) return err(1007);
            ev.push_back("close:" + std::to_string(code) + ":" + payload.substr(2));
            return ev;
        }
        if (op != 0) {
            in_msg = true;
            msg_op = static_cast<Opcode>(op);
            msg.clear();
            msg_size = 0;
            utf8.reset();
        }
        msg += payload;
        msg_size += avail;
        if (msg_op == Opcode::Text && !utf8.feed(reinterpret_cast<const uint8_t*>(payload.data()), avail)) return err(1007);
        if (avail < len) break;
        if (!fin) continue;
        if (msg_op == Opcode::Text && !utf8.complete()) return err(1007);
        ev.push_back((msg_op == Opcode::Text ? "T:" : "B:") + msg);
        in_msg = false;
    }
    return ev;
}

// Error events without their reason text (the model only knows the code).
std::vector<std::string> codes_only(std::vector<std::string> ev) {
    if (!ev.empty() && ev.back().rfind("error:", 0) == 0) ev.back().resize(10);
    return ev;
}

// Masks the payload of every masked frame in place with its own key. With the "plain"
// input flag the fuzzer writes payloads unmasked (so its comparison hints on close
// codes, UTF-8 and the like land on input bytes) and this turns them into the wire form.
void mask_frames(std::vector<uint8_t>& b) {
    size_t pos = 0;
    while (b.size() - pos >= 2) {
        const size_t hdr = frame_header_size_from_byte1(b[pos + 1]);
        if (b.size() - pos < hdr) return;
        FrameHeader h;
        if (parse_frame_header(b.data() + pos, b.size() - pos, h) < 0) return;
        pos += hdr;
        const size_t avail = static_cast<size_t>(std::min<uint64_t>(h.payload_len, b.size() - pos));
        if (h.masked) unmask_reference(b.data() + pos, avail, h.mask);
        pos += avail;
    }
}

void differential(const uint8_t* in, size_t in_size) {
    const uint8_t cfg = in[0];
    const uint32_t seed = in[1] & 0x7F;
    std::vector<uint8_t> buf(in, in + in_size);
    if (in[1] & 0x80) {  // plain payloads: mask them here
        std::vector<uint8_t> wire(buf.begin() + 2, buf.end());
        mask_frames(wire);
        std::copy(wire.begin(), wire.end(), buf.begin() + 2);
    }
    const uint8_t* data = buf.data();
    const size_t size = buf.size();
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
    if (!c.deflate) {
        const std::vector<std::string> want = model(c.rx, data + 2, size - 2);
        const std::vector<std::string> got = codes_only(a.events);
        if (got != want) {
            size_t i = 0;
            while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
            std::fprintf(stderr, "event %zu: receiver=%s model=%s\n", i,
                         i < got.size() ? got[i].substr(0, 80).c_str() : "(none)",
                         i < want.size() ? want[i].substr(0, 80).c_str() : "(none)");
            die("Receiver disagrees with the RFC 6455 reference model");
        }
    }
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
