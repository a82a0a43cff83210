// WebSocket close status codes (RFC 6455 7.4, IANA registry) and the rule for which
// of them may appear in a Close frame on the wire.
#pragma once
#include <cstdint>

namespace fasterapi::ws::close_code {
inline constexpr uint16_t Normal = 1000;
inline constexpr uint16_t GoingAway = 1001;
inline constexpr uint16_t ProtocolError = 1002;
inline constexpr uint16_t UnsupportedData = 1003;
inline constexpr uint16_t Reserved1004 = 1004;       // reserved, never on the wire
inline constexpr uint16_t NoStatus = 1005;           // "no code in the frame", never on the wire
inline constexpr uint16_t Abnormal = 1006;           // "closed without a Close frame", never on the wire
inline constexpr uint16_t InvalidPayload = 1007;     // e.g. invalid UTF-8 in a text message
inline constexpr uint16_t PolicyViolation = 1008;
inline constexpr uint16_t MessageTooBig = 1009;
inline constexpr uint16_t MandatoryExtension = 1010;  // sent by clients only
inline constexpr uint16_t InternalError = 1011;
inline constexpr uint16_t ServiceRestart = 1012;
inline constexpr uint16_t TryAgainLater = 1013;
inline constexpr uint16_t BadGateway = 1014;
inline constexpr uint16_t TlsHandshake = 1015;        // never on the wire
}  // namespace fasterapi::ws::close_code

namespace fasterapi::ws {

// RFC 6455 7.4.1/7.4.2: 1000-1003 and 1007-1011 are defined; 1012-1014 are
// registered with IANA since (servers send them); 3000-4999 belong to libraries and
// applications. 1004-1006 and 1015 are reserved, the rest of 1000-2999 is for future
// RFCs and <1000 / >=5000 are not used: all of those make the frame a protocol error.
constexpr bool is_valid_close_code_on_wire(uint16_t code) noexcept {
    if (code >= 1000 && code <= 1003) return true;
    if (code >= 1007 && code <= 1014) return true;
    return code >= 3000 && code <= 4999;
}

}  // namespace fasterapi::ws
