#include "ws/builder.h"

#include <cstring>

#include "ws/close_codes.h"
#include "ws/mask.h"
#include "ws/random.h"

namespace fasterapi::ws {

size_t frame_header_size(uint64_t payload_len, bool masked) noexcept {
    const size_t ext = payload_len < 126 ? 0 : payload_len <= 0xFFFF ? 2 : 8;
    return 2 + ext + (masked ? 4 : 0);
}

size_t write_frame_header(uint8_t* out, Opcode op, bool fin, bool rsv1, uint64_t len,
                          const uint8_t* mask_or_null) noexcept {
    out[0] = static_cast<uint8_t>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | static_cast<uint8_t>(op));
    const uint8_t mask_bit = mask_or_null ? 0x80 : 0;
    size_t at = 2;
    if (len < 126) {
        out[1] = static_cast<uint8_t>(mask_bit | len);
    } else if (len <= 0xFFFF) {
        out[1] = static_cast<uint8_t>(mask_bit | 126);
        out[2] = static_cast<uint8_t>(len >> 8);
        out[3] = static_cast<uint8_t>(len);
        at = 4;
    } else {
        out[1] = static_cast<uint8_t>(mask_bit | 127);
        for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<uint8_t>(len >> (56 - 8 * i));
        at = 10;
    }
    if (mask_or_null) {
        std::memcpy(out + at, mask_or_null, 4);
        at += 4;
    }
    return at;
}

namespace {

void append_one(std::string& out, Opcode op, std::string_view payload, bool fin, bool rsv1, bool masked) {
    uint8_t key[4];
    if (masked) random_bytes(key, sizeof key);
    const size_t hs = frame_header_size(payload.size(), masked);
    const size_t at = out.size();
    out.resize(at + hs + payload.size());
    auto* dst = reinterpret_cast<uint8_t*>(out.data()) + at;
    write_frame_header(dst, op, fin, rsv1, payload.size(), masked ? key : nullptr);
    if (!payload.empty()) {
        std::memcpy(dst + hs, payload.data(), payload.size());
        if (masked) unmask(dst + hs, payload.size(), key);
    }
}

}  // namespace

void append_frame(std::string& out, Opcode op, std::string_view payload, bool fin, bool rsv1) {
    append_one(out, op, payload, fin, rsv1, false);
}

void append_client_frame(std::string& out, Opcode op, std::string_view payload, bool fin, bool rsv1) {
    append_one(out, op, payload, fin, rsv1, true);
}

void append_message(std::string& out, Opcode op, std::string_view payload, size_t fragment_size, bool rsv1,
                    bool masked) {
    if (fragment_size == 0 || payload.size() <= fragment_size) {
        append_one(out, op, payload, true, rsv1, masked);
        return;
    }
    const size_t frames = (payload.size() + fragment_size - 1) / fragment_size;
    out.reserve(out.size() + payload.size() + frames * frame_header_size(fragment_size, masked));
    bool first = true;
    while (!payload.empty()) {
        const size_t n = payload.size() < fragment_size ? payload.size() : fragment_size;
        append_one(out, first ? op : Opcode::Continuation, payload.substr(0, n), n == payload.size(),
                   first && rsv1, masked);
        payload.remove_prefix(n);
        first = false;
    }
}

void append_close(std::string& out, uint16_t code, std::string_view reason, bool masked) {
    if (code == close_code::NoStatus) {
        append_one(out, Opcode::Close, {}, true, false, masked);
        return;
    }
    if (reason.size() > 123) {
        size_t cut = 123;
        // Back up over continuation bytes (10xxxxxx) so no code point is split.
        while (cut > 0 && (static_cast<uint8_t>(reason[cut]) & 0xC0) == 0x80) --cut;
        reason = reason.substr(0, cut);
    }
    char payload[125];
    payload[0] = static_cast<char>(code >> 8);
    payload[1] = static_cast<char>(code & 0xFF);
    // An empty reason may have a null data(): memcpy(…, nullptr, 0) is still UB.
    if (!reason.empty()) std::memcpy(payload + 2, reason.data(), reason.size());
    append_one(out, Opcode::Close, std::string_view(payload, 2 + reason.size()), true, false, masked);
}

}  // namespace fasterapi::ws
