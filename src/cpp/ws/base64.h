// Base64 (RFC 4648 section 4, standard alphabet, '=' padding) for the WebSocket
// handshake: encoding Sec-WebSocket-Accept and strictly checking Sec-WebSocket-Key.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace fasterapi::ws {

// Appends the padded encoding of data[0..len) to out.
void base64_encode(const uint8_t* data, size_t len, std::string& out);
std::string base64_encode(std::string_view data);

// Strict decode: length a multiple of 4, alphabet only, '=' only as the last one or
// two characters, no whitespace. Appends to out; false (out unspecified) on error.
// Non-zero unused bits before the padding are tolerated, like common decoders.
bool base64_decode(std::string_view in, std::string& out);

// Exact size base64_decode would produce for a well-formed input (0 if malformed length).
inline size_t base64_decoded_size(std::string_view in) noexcept {
    if (in.size() % 4 != 0) return 0;
    size_t n = in.size() / 4 * 3;
    if (!in.empty() && in.back() == '=') --n;
    if (in.size() >= 2 && in[in.size() - 2] == '=') --n;
    return n;
}

}  // namespace fasterapi::ws
