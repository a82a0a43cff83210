// WebSocket opening handshake, server side (RFC 6455 4.2): validate an upgrade
// request, pick subprotocol and permessage-deflate, write the 101 or the refusal.
// Sans-I/O: takes a parsed http::Request, appends response bytes to a string.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/request.h"
#include "ws/deflate.h"

namespace fasterapi::ws {

// base64(SHA1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")), RFC 6455 4.2.2.
std::string compute_accept(std::string_view key);

struct HandshakeOptions {
    std::vector<std::string> subprotocols;     // server-supported, in server preference order
    DeflateOptions deflate;                    // deflate.enabled=false -> never negotiated
    // Empty = any Origin. Otherwise the Origin must match one entry exactly (ASCII
    // case-insensitive); "*" allows any Origin, "" allows requests without Origin
    // (non-browser clients). A listed-origins route refuses a missing Origin by default.
    std::vector<std::string> allowed_origins;
};

struct HandshakeResult {
    int status = 0;           // 101 when acceptable; otherwise the refusal status (400, 403, 405, 426)
    std::string reason;       // short, for the body and logs, e.g. "missing Sec-WebSocket-Key"
    std::string accept;       // Sec-WebSocket-Accept value
    std::string subprotocol;  // selected ("" none): first entry of the CLIENT's list that the server supports
    std::vector<std::string> offered_subprotocols;  // the client's list, for the application to pick itself
    bool deflate = false;
    DeflateParams deflate_params;
    std::string extensions;   // Sec-WebSocket-Extensions response value ("" none)

    bool ok() const noexcept { return status == 101; }
};

// Checks, in this order (the first failure decides):
//   method GET                              else 405 (RFC 6455 4.2.1 requires GET; Allow: GET is sent)
//   HTTP/1.1 or later                       else 400
//   Upgrade has the token "websocket"       else 426 (a plain GET to a WebSocket route)
//   Connection has the token "upgrade"      else 400
//   exactly one Host                        else 400
//   Sec-WebSocket-Version exactly "13"      missing/other -> 426 (+ Sec-WebSocket-Version: 13); repeated -> 400
//   one Sec-WebSocket-Key, base64 of 16 bytes (24 chars) else 400
//   Origin allowed (see HandshakeOptions)   else 403
//   Sec-WebSocket-Protocol tokens           else 400
// then selects the subprotocol and negotiates permessage-deflate.
HandshakeResult validate_upgrade(const http::Request& req, const HandshakeOptions& opts);

// 101 Switching Protocols with Upgrade/Connection/Sec-WebSocket-Accept, optional
// Sec-WebSocket-Protocol (a non-empty `subprotocol` overrides r.subprotocol),
// Sec-WebSocket-Extensions, then extra headers. Appends to out. Throws
// std::invalid_argument for a subprotocol that is not a token or an extra header
// with an invalid name or a CR/LF/NUL in its value (header injection).
void write_accept_response(std::string& out, const HandshakeResult& r, std::string_view subprotocol,
                           const std::vector<std::pair<std::string, std::string>>& extra_headers = {});

// Refusal: status line + Content-Type text/plain + Content-Length + Connection: close
// + body reason. 426 adds "Sec-WebSocket-Version: 13" and "Upgrade: websocket"
// (RFC 9110 15.5.22); 405 adds "Allow: GET". CR/LF in reason are replaced by spaces.
// A non-empty date (an IMF-fixdate) adds the Date header an origin server must send.
void write_refusal_response(std::string& out, int status, std::string_view reason,
                            std::string_view date = {});

}  // namespace fasterapi::ws
