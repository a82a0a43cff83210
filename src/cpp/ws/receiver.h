// Server-side WebSocket message layer (RFC 6455 5.4-5.6, 8.1; RFC 7692 6.2) on top of
// the frame header decoder: unmasking, fragment assembly, control frames, UTF-8,
// limits and permessage-deflate, with each violation reported as its close code.
//
// Sans-I/O and incremental: feed() takes whatever bytes arrived (any split gives the
// same events as the whole buffer) and calls the Handler (compile-time callbacks):
//
//   void on_message(Opcode op /* Text | Binary */, std::string_view payload);
//   void on_ping(std::string_view payload);
//   void on_pong(std::string_view payload);
//   void on_close(uint16_t code /* 1005 when empty */, std::string_view reason);
//   void on_error(uint16_t close_code /* 1002, 1007, 1009 */, const char* reason);
//
// Payload views are valid only during the call. An unfragmented, uncompressed message
// whose payload is whole in the caller's buffer is unmasked in place and delivered as
// a view into it (no copy); anything else accumulates in one per-receiver string.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "ws/close_codes.h"
#include "ws/deflate.h"
#include "ws/frame.h"
#include "ws/mask.h"
#include "ws/utf8.h"

namespace fasterapi::ws {

struct ReceiverConfig {
    size_t max_message_size = 16u << 20;  // bytes of (inflated) message payload -> 1009 when exceeded
    bool require_mask = true;  // server: clients must mask; false = client side: servers must not
};

template <class Handler>
class Receiver {
public:
    explicit Receiver(ReceiverConfig cfg = {}, Inflater* inflater = nullptr)
        : cfg_(cfg), inflater_(inflater) {}

    // Consumes bytes, unmasking payloads in place in `data`. Returns the bytes consumed:
    // all of them, unless a Close frame or an error stopped the receiver (then closed()
    // or failed() is true, the rest is left alone and later feeds consume nothing).
    size_t feed(uint8_t* data, size_t len, Handler& h) {
        size_t pos = 0;
        while (state_ == State::Header || state_ == State::Payload) {
            if (state_ == State::Header) {
                if (pos == len) break;
                if (!read_header(data, len, pos, h)) break;
            } else {
                if (pos == len) break;
                read_payload(data, len, pos, h);
            }
        }
        return pos;
    }

    bool failed() const noexcept { return state_ == State::Failed; }
    bool closed() const noexcept { return state_ == State::Closed; }
    // A fragmented message is being assembled (a data frame without FIN was received).
    bool in_message() const noexcept { return in_message_; }
    void set_inflater(Inflater* inflater) noexcept { inflater_ = inflater; }
    const ReceiverConfig& config() const noexcept { return cfg_; }

private:
    enum class State : uint8_t { Header, Payload, Closed, Failed };
    // First reservation for a buffered message: never the attacker-declared length
    // (bounded by the limit but possibly huge and never sent), growth is geometric.
    static constexpr size_t kInitialReserve = 64 * 1024;
    // Keep at most this much buffer capacity between messages (memory per connection).
    static constexpr size_t kKeepCapacity = 64 * 1024;
    static constexpr const char* kBadUtf8 = "invalid UTF-8 in a text message";
    static constexpr const char* kTruncatedUtf8 = "text message ends inside a UTF-8 sequence";

    void fail(Handler& h, uint16_t code, const char* reason) {
        state_ = State::Failed;
        h.on_error(code, reason);
    }

    // Decodes a header (from `data` directly, or through the stash when it arrives in
    // pieces), then checks it and, when possible, handles the whole frame in place.
    // Returns false when it needs more bytes or stopped.
    bool read_header(uint8_t* data, size_t len, size_t& pos, Handler& h) {
        int r;
        if (stash_len_ == 0) {
            r = parse_frame_header(data + pos, len - pos, hdr_);
            if (r == kHeaderPartial) {  // fewer than 14 bytes left: keep them
                stash_len_ = static_cast<uint8_t>(len - pos);
                std::memcpy(stash_, data + pos, stash_len_);
                pos = len;
                return false;
            }
            if (r > 0) pos += static_cast<size_t>(r);
        } else {
            const size_t take = std::min(kMaxFrameHeaderSize - stash_len_, len - pos);
            std::memcpy(stash_ + stash_len_, data + pos, take);
            r = parse_frame_header(stash_, stash_len_ + take, hdr_);
            if (r == kHeaderPartial) {
                stash_len_ = static_cast<uint8_t>(stash_len_ + take);
                pos += take;
                return false;
            }
            if (r > 0) {
                pos += static_cast<size_t>(r) - stash_len_;
                stash_len_ = 0;
            }
        }
        if (r == kHeaderBadLength) {
            fail(h, close_code::ProtocolError, "64-bit payload length with the high bit set");
            return false;
        }
        if (!check_header(h)) return false;
        return begin_frame(data, len, pos, h);
    }

    // The state-dependent rules of RFC 6455 5.1-5.5 and RFC 7692 6.
    bool check_header(Handler& h) {
        const FrameHeader& f = hdr_;
        if (f.rsv2 || f.rsv3) return fail(h, close_code::ProtocolError, "reserved bit set"), false;
        if (!is_known_opcode(f.opcode)) return fail(h, close_code::ProtocolError, "reserved opcode"), false;
        if (f.masked != cfg_.require_mask) {
            return fail(h, close_code::ProtocolError,
                        cfg_.require_mask ? "client frame not masked" : "server frame masked"),
                   false;
        }
        if (is_control(f.opcode)) {
            if (!f.fin) return fail(h, close_code::ProtocolError, "fragmented control frame"), false;
            if (f.payload_len > 125) return fail(h, close_code::ProtocolError, "control frame too long"), false;
            if (f.rsv1) return fail(h, close_code::ProtocolError, "RSV1 on a control frame"), false;
            return true;
        }
        const auto op = static_cast<Opcode>(f.opcode);
        if (op == Opcode::Continuation) {
            if (!in_message_) return fail(h, close_code::ProtocolError, "continuation without a message"), false;
            if (f.rsv1) return fail(h, close_code::ProtocolError, "RSV1 on a continuation frame"), false;
        } else {
            if (in_message_) return fail(h, close_code::ProtocolError, "new message inside a fragmented one"), false;
            if (f.rsv1 && inflater_ == nullptr) {
                return fail(h, close_code::ProtocolError, "RSV1 set without permessage-deflate"), false;
            }
        }
        // Uncompressed: the declared length alone decides (never buffer toward it).
        // Compressed: the Inflater bounds the inflated size while inflating.
        const bool compressed = op == Opcode::Continuation ? msg_compressed_ : f.rsv1;
        const size_t so_far = op == Opcode::Continuation ? msg_size_ : 0;
        if (!compressed && f.payload_len > cfg_.max_message_size - so_far) {
            return fail(h, close_code::MessageTooBig, "message too big"), false;
        }
        return true;
    }

    bool begin_frame(uint8_t* data, size_t len, size_t& pos, Handler& h) {
        const FrameHeader& f = hdr_;
        const size_t avail = len - pos;
        if (is_control(f.opcode)) {
            if (f.payload_len <= avail) {  // whole: handle in place
                uint8_t* p = data + pos;
                const auto n = static_cast<size_t>(f.payload_len);
                if (f.masked) unmask(p, n, f.mask);
                pos += n;
                return on_control(p, n, h);
            }
        } else if (f.opcode != 0 && f.fin && !f.rsv1 && f.payload_len <= avail) {
            // Zero-copy fast path: a whole unfragmented uncompressed message.
            uint8_t* p = data + pos;
            const auto n = static_cast<size_t>(f.payload_len);
            if (f.masked) unmask(p, n, f.mask);
            pos += n;
            const auto op = static_cast<Opcode>(f.opcode);
            if (op == Opcode::Text) {
                // Same verdicts (and reasons) as the buffered path, whatever the split.
                utf8_.reset();
                if (!utf8_.feed(p, n)) {
                    fail(h, close_code::InvalidPayload, kBadUtf8);
                    return false;
                }
                if (!utf8_.complete()) {
                    fail(h, close_code::InvalidPayload, kTruncatedUtf8);
                    return false;
                }
            }
            h.on_message(op, std::string_view(reinterpret_cast<const char*>(p), n));
            return true;
        } else if (f.opcode != 0) {
            // First frame of a message that will be buffered.
            in_message_ = true;
            msg_opcode_ = static_cast<Opcode>(f.opcode);
            msg_compressed_ = f.rsv1;
            msg_size_ = 0;
            utf8_.reset();
            buf_.clear();
            if (!msg_compressed_) {
                buf_.reserve(std::min<size_t>(static_cast<size_t>(f.payload_len), kInitialReserve));
            }
        }
        remaining_ = f.payload_len;
        state_ = State::Payload;
        if (remaining_ == 0) return end_frame(h);  // empty data frame: nothing to read
        return true;
    }

    void read_payload(uint8_t* data, size_t len, size_t& pos, Handler& h) {
        const FrameHeader& f = hdr_;
        const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, len - pos));
        uint8_t* p = data + pos;
        if (f.masked) unmask(p, take, f.mask, static_cast<size_t>((f.payload_len - remaining_) & 3));
        pos += take;
        remaining_ -= take;
        if (is_control(f.opcode)) {
            // Control payloads (<= 125 bytes) ride at the end of the message buffer, so an
            // interleaved ping costs no extra per-connection storage.
            buf_.append(reinterpret_cast<const char*>(p), take);
        } else if (!data_chunk(p, take, h)) {
            return;
        }
        if (remaining_ == 0) end_frame(h);
    }

    bool data_chunk(const uint8_t* p, size_t n, Handler& h) {
        const size_t before = buf_.size();
        if (msg_compressed_) {
            // Text first: bytes inflated before a bad spot are judged as they would be
            // had the compressed input arrived in smaller pieces.
            const InflateStatus st = inflater_->feed(p, n, buf_, cfg_.max_message_size);
            return check_text(before, h) && inflate_ok(st, h);
        }
        buf_.append(reinterpret_cast<const char*>(p), n);
        msg_size_ += n;
        return check_text(before, h);
    }

    bool inflate_ok(InflateStatus st, Handler& h) {
        if (st == InflateStatus::TooLarge) return fail(h, close_code::MessageTooBig, "message too big"), false;
        if (st == InflateStatus::Corrupt) return fail(h, close_code::InvalidPayload, "invalid compressed data"), false;
        return true;
    }

    // Validates the text bytes appended to buf_ since `from`: the first invalid byte
    // fails the connection right away, even in the middle of a fragment.
    bool check_text(size_t from, Handler& h) {
        if (msg_opcode_ != Opcode::Text || buf_.size() == from) return true;
        if (!utf8_.feed(reinterpret_cast<const uint8_t*>(buf_.data()) + from, buf_.size() - from)) {
            fail(h, close_code::InvalidPayload, kBadUtf8);
            return false;
        }
        return true;
    }

    bool end_frame(Handler& h) {
        state_ = State::Header;
        const FrameHeader& f = hdr_;
        if (is_control(f.opcode)) {
            const auto n = static_cast<size_t>(f.payload_len);
            const size_t start = buf_.size() - n;
            const bool ok = on_control(reinterpret_cast<uint8_t*>(buf_.data()) + start, n, h);
            buf_.resize(start);
            return ok;
        }
        if (!f.fin) return true;
        if (msg_compressed_) {
            const size_t before = buf_.size();
            const InflateStatus st = inflater_->finish(buf_, cfg_.max_message_size);
            if (!check_text(before, h) || !inflate_ok(st, h)) return false;
        }
        if (msg_opcode_ == Opcode::Text && !utf8_.complete()) {
            fail(h, close_code::InvalidPayload, kTruncatedUtf8);
            return false;
        }
        in_message_ = false;
        h.on_message(msg_opcode_, std::string_view(buf_));
        if (buf_.capacity() > kKeepCapacity) {
            std::string().swap(buf_);
        } else {
            buf_.clear();
        }
        return true;
    }

    // RFC 6455 5.5: payload is unmasked and complete.
    bool on_control(const uint8_t* p, size_t n, Handler& h) {
        const std::string_view view(reinterpret_cast<const char*>(p), n);
        switch (static_cast<Opcode>(hdr_.opcode)) {
            case Opcode::Ping:
                h.on_ping(view);
                return true;
            case Opcode::Pong:
                h.on_pong(view);
                return true;
            default:
                break;
        }
        // Close (RFC 6455 5.5.1): empty, or a 2-byte code followed by a UTF-8 reason.
        if (n == 1) return fail(h, close_code::ProtocolError, "close frame with a 1-byte payload"), false;
        uint16_t code = close_code::NoStatus;
        if (n >= 2) {
            code = static_cast<uint16_t>((p[0] << 8) | p[1]);
            if (!is_valid_close_code_on_wire(code)) {
                return fail(h, close_code::ProtocolError, "invalid close code"), false;
            }
            if (!utf8_valid(p + 2, n - 2)) {
                return fail(h, close_code::InvalidPayload, "invalid UTF-8 in the close reason"), false;
            }
        }
        state_ = State::Closed;
        h.on_close(code, n >= 2 ? view.substr(2) : std::string_view());
        return false;
    }

    ReceiverConfig cfg_;
    Inflater* inflater_;
    std::string buf_;         // message being assembled (+ a control payload at its end)
    FrameHeader hdr_;         // current frame
    uint64_t remaining_ = 0;  // payload bytes of the current frame still to come
    size_t msg_size_ = 0;     // payload bytes of the current uncompressed message so far
    Utf8Validator utf8_;      // carries a partial code point across frames
    State state_ = State::Header;
    Opcode msg_opcode_ = Opcode::Binary;
    bool in_message_ = false;
    bool msg_compressed_ = false;
    uint8_t stash_len_ = 0;
    uint8_t stash_[kMaxFrameHeaderSize];  // a header split across feeds
};

}  // namespace fasterapi::ws
