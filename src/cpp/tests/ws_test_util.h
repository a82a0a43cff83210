// Receiver test helpers: a recording handler and runs of one input cut in pieces.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "ws/receiver.h"
#include "ws_guard.h"

namespace fasterapi::ws::test {

// Records every callback as one readable string.
struct Recorder {
    std::vector<std::string> events;
    void on_message(Opcode op, std::string_view p) {
        events.push_back(std::string(op == Opcode::Text ? "text:" : "binary:") + std::string(p));
    }
    void on_ping(std::string_view p) { events.push_back("ping:" + std::string(p)); }
    void on_pong(std::string_view p) { events.push_back("pong:" + std::string(p)); }
    void on_close(uint16_t code, std::string_view reason) {
        events.push_back("close:" + std::to_string(code) + ":" + std::string(reason));
    }
    void on_error(uint16_t code, const char* reason) {
        events.push_back("error:" + std::to_string(code) + ":" + reason);
    }
};

struct RunResult {
    std::vector<std::string> events;
    size_t consumed = 0;
    bool failed = false;
    bool closed = false;
    // consumed is not compared: after an error it depends on where the input was cut.
    bool operator==(const RunResult& o) const { return events == o.events && failed == o.failed && closed == o.closed; }
};

// Feeds `input` cut at the given increasing offsets, each piece in its own guarded
// buffer (copied fresh: the receiver unmasks in place).
inline RunResult run_pieces(std::string_view input, const std::vector<size_t>& cuts, ReceiverConfig cfg = {},
                            Inflater* inflater = nullptr) {
    Receiver<Recorder> rx(cfg, inflater);
    Recorder rec;
    RunResult r;
    size_t start = 0;
    std::vector<size_t> ends = cuts;
    ends.push_back(input.size());
    GuardedBuffer small(std::string_view{});  // one page, reused for short pieces
    for (size_t end : ends) {
        const std::string_view piece = input.substr(start, end - start);
        if (piece.size() <= 4096) {
            small.assign(piece);
            r.consumed += rx.feed(small.data(), small.size(), rec);
        } else {
            GuardedBuffer buf(piece);
            r.consumed += rx.feed(buf.data(), buf.size(), rec);
        }
        start = end;
    }
    r.events = rec.events;
    r.failed = rx.failed();
    r.closed = rx.closed();
    return r;
}

inline RunResult run_whole(std::string_view input, ReceiverConfig cfg = {}, Inflater* inflater = nullptr) {
    return run_pieces(input, {}, cfg, inflater);
}

inline RunResult run_bytewise(std::string_view input, ReceiverConfig cfg = {}, Inflater* inflater = nullptr) {
    std::vector<size_t> cuts;
    for (size_t i = 1; i < input.size(); ++i) cuts.push_back(i);
    return run_pieces(input, cuts, cfg, inflater);
}

}  // namespace fasterapi::ws::test
