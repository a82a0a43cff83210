// WebSocket base framing (RFC 6455 5.2): opcodes and the frame header decoder.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-------+-+-------------+-------------------------------+
//  |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//  |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//  |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//  | |1|2|3|       |K|             |                               |
//  +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//  |     Extended payload length continued, if payload len == 127  |
//  + - - - - - - - - - - - - - - - +-------------------------------+
//  |                               |Masking-key, if MASK set to 1  |
//  +-------------------------------+-------------------------------+
//
// The rules that depend on connection state (masking, fragmentation, extensions,
// limits) live in the Receiver (receiver.h); this header only decodes.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fasterapi::ws {

enum class Opcode : uint8_t { Continuation = 0, Text = 1, Binary = 2, Close = 8, Ping = 9, Pong = 10 };

// 3-7 and 11-15 are reserved for further frames (RFC 6455 5.2).
constexpr bool is_known_opcode(uint8_t v) noexcept { return v <= 2 || (v >= 8 && v <= 10); }
// Control frames are those whose opcode has the high bit set (RFC 6455 5.5).
constexpr bool is_control(uint8_t v) noexcept { return (v & 0x8) != 0; }
constexpr bool is_control(Opcode op) noexcept { return is_control(static_cast<uint8_t>(op)); }

struct FrameHeader {
    uint64_t payload_len = 0;
    uint8_t mask[4] = {0, 0, 0, 0};
    uint8_t opcode = 0;  // raw 4 bits: may be a reserved value, the Receiver judges it
    bool fin = false;
    bool rsv1 = false;
    bool rsv2 = false;
    bool rsv3 = false;
    bool masked = false;
};

inline constexpr size_t kMaxFrameHeaderSize = 14;  // 2 + 8 (64-bit length) + 4 (mask)

// Header size implied by the second header byte (MASK bit and 7-bit length).
constexpr size_t frame_header_size_from_byte1(uint8_t b1) noexcept {
    const uint8_t len7 = b1 & 0x7F;
    return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((b1 & 0x80) ? 4 : 0);
}

inline constexpr int kHeaderPartial = -2;  // more bytes needed
inline constexpr int kHeaderBadLength = -1;  // 64-bit length with the most significant bit set

// picohttpparser-style: decodes the header at p[0..n). Returns its size (2..14) when
// complete, kHeaderPartial when more bytes are needed, kHeaderBadLength when the 64-bit
// length has its high bit set (RFC 6455 5.2: "the most significant bit MUST be 0").
// Non-minimal length encodings are accepted (the RFC gives them no error). Reads at
// most the header's own bytes.
inline int parse_frame_header(const uint8_t* p, size_t n, FrameHeader& h) noexcept {
    if (n < 2) return kHeaderPartial;
    const size_t size = frame_header_size_from_byte1(p[1]);
    if (n < size) return kHeaderPartial;
    h.fin = (p[0] & 0x80) != 0;
    h.rsv1 = (p[0] & 0x40) != 0;
    h.rsv2 = (p[0] & 0x20) != 0;
    h.rsv3 = (p[0] & 0x10) != 0;
    h.opcode = p[0] & 0x0F;
    h.masked = (p[1] & 0x80) != 0;
    const uint8_t len7 = p[1] & 0x7F;
    size_t at = 2;
    if (len7 == 126) {
        h.payload_len = (uint64_t{p[2]} << 8) | p[3];
        at = 4;
    } else if (len7 == 127) {
        if (p[2] & 0x80) return kHeaderBadLength;
        uint64_t v = 0;
        for (size_t i = 2; i < 10; ++i) v = (v << 8) | p[i];
        h.payload_len = v;
        at = 10;
    } else {
        h.payload_len = len7;
    }
    if (h.masked) {
        for (size_t i = 0; i < 4; ++i) h.mask[i] = p[at + i];
    } else {
        for (size_t i = 0; i < 4; ++i) h.mask[i] = 0;
    }
    return static_cast<int>(size);
}

}  // namespace fasterapi::ws
