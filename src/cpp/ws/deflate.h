// permessage-deflate (RFC 7692): per-message compression over zlib raw deflate,
// plus the server side of the extension negotiation (RFC 7692 5 and 7.1).
//
// Sans-I/O: Inflater/Deflater turn payload bytes into payload bytes; the frame
// layer decides which frames carry RSV1 and where a message ends.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

struct z_stream_s;  // zlib's z_stream, kept out of this header

namespace fasterapi::ws {

enum class InflateStatus { Ok, TooLarge, Corrupt };

// Decompressor for one direction of one connection (the client's messages).
// The zlib state is allocated on first use, so an idle connection that never
// receives a compressed message costs only sizeof(Inflater).
class Inflater {
public:
    // window_bits: the agreed client_max_window_bits (8..15), kept for reporting.
    // We always inflate with a 32 KiB window: a larger window accepts every stream a
    // smaller one does, and zlib's "distance too far back" check with a small window
    // depends on how the input was split, so one message could pass or fail by chunking.
    explicit Inflater(int window_bits = 15, bool no_context_takeover = false);
    ~Inflater();
    Inflater(Inflater&&) noexcept;
    Inflater& operator=(Inflater&&) noexcept;
    Inflater(const Inflater&) = delete;
    Inflater& operator=(const Inflater&) = delete;

    // Inflate one frame's payload chunk of a compressed message, appending to out. The
    // whole message's output must stay <= max_total (checked while inflating, in bounded
    // steps: a tiny input that inflates to GiB never allocates more than max_total + one
    // step) -> TooLarge. After TooLarge or Corrupt the message is abandoned and the
    // stream reset (the connection is expected to close with 1009 / 1007).
    InflateStatus feed(const uint8_t* data, size_t len, std::string& out, size_t max_total);
    // End of message: feeds the 00 00 ff ff tail (RFC 7692 7.2.2), resets when no
    // context takeover.
    InflateStatus finish(std::string& out, size_t max_total);

    // Drops the zlib state (and the message in progress) to free its memory; the next
    // feed starts a fresh stream. Only valid between messages under no context takeover
    // (with takeover the peer's next message may refer to the dropped window).
    void release() noexcept;

    int window_bits() const noexcept { return window_bits_; }
    bool no_context_takeover() const noexcept { return no_context_takeover_; }

    // Largest output step one inflate call may add beyond max_total.
    static constexpr size_t kMaxStep = 64 * 1024;

private:
    InflateStatus run(const uint8_t* data, size_t len, std::string& out, size_t max_total);
    bool ensure_stream() noexcept;
    void reset_message() noexcept;

    std::unique_ptr<z_stream_s> zs_;
    size_t message_total_ = 0;  // bytes produced so far for the current message
    int window_bits_;
    bool no_context_takeover_;
    bool stream_ended_ = false;    // the peer closed the deflate stream (BFINAL) in this message
    bool message_started_ = false; // some compressed byte of the current message was fed
};

// Compressor for our messages on one connection.
class Deflater {
public:
    // window_bits: the agreed server_max_window_bits; zlib refuses raw deflate with 8
    // (since 1.2.9), so values below 9 are raised to 9 -- negotiate_deflate never agrees
    // to 8 for this reason. level: zlib level 0..9 (1 = fastest, the default for a server).
    Deflater(int window_bits = 15, int mem_level = 8, bool no_context_takeover = false,
             int level = 1);
    ~Deflater();
    Deflater(Deflater&&) noexcept;
    Deflater& operator=(Deflater&&) noexcept;
    Deflater(const Deflater&) = delete;
    Deflater& operator=(const Deflater&) = delete;

    // Whole message -> payload without the trailing 00 00 ff ff (RFC 7692 7.2.1),
    // Z_SYNC_FLUSH. Appends to out. An empty message becomes the single byte 00
    // (RFC 7692 7.2.3.6). Throws std::bad_alloc if zlib cannot allocate its state.
    void compress(std::string_view in, std::string& out);

    // Drops the zlib state to free its memory (only meaningful under no context
    // takeover; with takeover the next message would lose its shared window).
    void release() noexcept;

    int window_bits() const noexcept { return window_bits_; }
    bool no_context_takeover() const noexcept { return no_context_takeover_; }

private:
    void ensure_stream();

    std::unique_ptr<z_stream_s> zs_;
    int window_bits_;
    int mem_level_;
    int level_;
    bool no_context_takeover_;
};

// ---------------------------------------------------------------------------
// Negotiation (server side).

struct DeflateOptions {             // server configuration, per route
    bool enabled = true;
    int server_max_window_bits = 15;  // the server's own compression window (9..15)
    int client_max_window_bits = 15;  // what we ask the client to use when it allows it (9..15)
    bool server_no_context_takeover = false;  // also: keep no context per connection (memory)
    bool client_no_context_takeover = false;
    int mem_level = 8;                // zlib memLevel 1..9 for our Deflater
    int compression_level = 1;        // zlib level 0..9 for our Deflater
    size_t min_size = 0;              // the sender may skip compressing smaller messages
};

struct DeflateParams {              // the agreed parameters for one connection
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    int server_max_window_bits = 15;  // our Deflater's window
    int client_max_window_bits = 15;  // our Inflater's window
};

struct NegotiationResult {
    bool accepted = false;
    DeflateParams params;
    std::string response;  // Sec-WebSocket-Extensions value to send; empty when declined
};

// header = all Sec-WebSocket-Extensions values joined with ", ". Parses the RFC 6455
// 9.1 grammar, considers permessage-deflate offers in order and accepts the first one
// it can honour (RFC 7692 5); other extensions are ignored. A syntactically invalid
// header declines everything.
NegotiationResult negotiate_deflate(std::string_view header, const DeflateOptions& opts);

}  // namespace fasterapi::ws
