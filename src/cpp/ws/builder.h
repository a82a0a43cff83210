// Frame builder (RFC 6455 5.2): server frames unmasked, client frames masked with a
// key from the OS CSPRNG (5.3), messages fragmented at a chosen size (5.4), close
// frames with a code and a reason (5.5.1).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ws/frame.h"

namespace fasterapi::ws {

// Size of the header of a frame with this payload length (2..14).
size_t frame_header_size(uint64_t payload_len, bool masked) noexcept;

// Writes the header into out (room for kMaxFrameHeaderSize bytes); returns its size.
// Lengths use the minimal encoding. mask_or_null: 4-byte key, or null for no MASK bit.
size_t write_frame_header(uint8_t* out, Opcode op, bool fin, bool rsv1, uint64_t len,
                          const uint8_t* mask_or_null) noexcept;

// One unmasked frame (server to client).
void append_frame(std::string& out, Opcode op, std::string_view payload, bool fin = true, bool rsv1 = false);
// One masked frame (client to server), fresh random key.
void append_client_frame(std::string& out, Opcode op, std::string_view payload, bool fin = true,
                         bool rsv1 = false);
// A whole message split into frames of at most fragment_size payload bytes
// (0 = one frame). RSV1 (compressed message) goes on the first frame only; an empty
// payload is one empty frame.
void append_message(std::string& out, Opcode op, std::string_view payload, size_t fragment_size = 0,
                    bool rsv1 = false, bool masked = false);
// Close frame with code and reason; the reason is truncated to 123 bytes on a UTF-8
// boundary (a control payload is at most 125). code 1005 (NoStatus) means "no code":
// an empty close frame is built and the reason ignored.
void append_close(std::string& out, uint16_t code, std::string_view reason, bool masked = false);

}  // namespace fasterapi::ws
