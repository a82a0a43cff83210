#include "ws/handshake.h"

#include <openssl/evp.h>

#include <stdexcept>

#include "http/parser.h"
#include "ws/base64.h"

namespace fasterapi::ws {
namespace {

using http::is_tchar;
using http::is_token;
using http::trim_ows;

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// Calls f(element) for each non-empty element of a #list (RFC 9110 5.6.1), OWS trimmed.
template <class F>
void for_each_list_element(std::string_view v, F&& f) {
    while (true) {
        size_t comma = v.find(',');
        std::string_view e = trim_ows(v.substr(0, comma));
        if (!e.empty()) f(e);
        if (comma == std::string_view::npos) return;
        v.remove_prefix(comma + 1);
    }
}

// True if any header `name` has `token` in its comma list (case-insensitive).
bool header_has_token(const http::Request& req, std::string_view name, std::string_view token) {
    bool found = false;
    for (size_t i = 0; i < req.num_headers && !found; ++i) {
        if (!http::iequals(req.headers[i].name, name)) continue;
        for_each_list_element(req.headers[i].value, [&](std::string_view e) {
            if (http::iequals(e, token)) found = true;
        });
    }
    return found;
}

HandshakeResult refuse(int status, std::string reason) {
    HandshakeResult r;
    r.status = status;
    r.reason = std::move(reason);
    return r;
}

std::string_view reason_phrase(int status) {
    switch (status) {
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 426: return "Upgrade Required";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        default: return status >= 500 ? "Error" : "Refused";
    }
}

bool valid_field_value(std::string_view v) {
    for (char c : v)
        if (c == '\r' || c == '\n' || c == '\0') return false;
    return true;
}

}  // namespace

std::string compute_accept(std::string_view key) {
    std::string buf;
    buf.reserve(key.size() + kGuid.size());
    buf.append(key).append(kGuid);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_Digest(buf.data(), buf.size(), md, &md_len, EVP_sha1(), nullptr) != 1 || md_len != 20)
        throw std::runtime_error("SHA-1 unavailable in libcrypto");
    return base64_encode(std::string_view(reinterpret_cast<const char*>(md), md_len));
}

HandshakeResult validate_upgrade(const http::Request& req, const HandshakeOptions& opts) {
    if (req.method != "GET") return refuse(405, "WebSocket upgrade requires GET");
    if (req.version_minor < 1) return refuse(400, "WebSocket upgrade requires HTTP/1.1");
    if (!header_has_token(req, "Upgrade", "websocket")) return refuse(426, "missing Upgrade: websocket");
    if (!header_has_token(req, "Connection", "upgrade")) return refuse(400, "missing Connection: upgrade");
    const size_t hosts = req.count("Host");
    if (hosts == 0) return refuse(400, "missing Host");
    if (hosts > 1) return refuse(400, "duplicate Host");

    // RFC 6455 4.4: an unsupported or missing version gets 426 listing what we speak.
    const size_t versions = req.count("Sec-WebSocket-Version");
    if (versions == 0) return refuse(426, "missing Sec-WebSocket-Version");
    if (versions > 1) return refuse(400, "duplicate Sec-WebSocket-Version");
    if (req.find("Sec-WebSocket-Version") != "13") return refuse(426, "unsupported Sec-WebSocket-Version");

    const size_t keys = req.count("Sec-WebSocket-Key");
    if (keys == 0) return refuse(400, "missing Sec-WebSocket-Key");
    if (keys > 1) return refuse(400, "duplicate Sec-WebSocket-Key");
    const std::string_view key = req.find("Sec-WebSocket-Key");
    std::string nonce;
    // RFC 6455 4.1: a randomly selected 16-byte value, base64-encoded -> exactly 24 chars.
    if (key.size() != 24 || !base64_decode(key, nonce) || nonce.size() != 16)
        return refuse(400, "invalid Sec-WebSocket-Key");

    if (!opts.allowed_origins.empty()) {
        const size_t origins = req.count("Origin");
        if (origins > 1) return refuse(400, "duplicate Origin");
        const std::string_view origin = req.find("Origin");
        bool allowed = false;
        for (const auto& o : opts.allowed_origins) {
            if (o == "*" || (origins == 1 && !o.empty() && http::iequals(o, origin)) ||
                (origins == 0 && o.empty())) {
                allowed = true;
                break;
            }
        }
        if (!allowed) return refuse(403, origins == 0 ? "missing Origin" : "Origin not allowed");
    }

    HandshakeResult r;
    bool protocols_ok = true;
    for (size_t i = 0; i < req.num_headers; ++i) {
        if (!http::iequals(req.headers[i].name, "Sec-WebSocket-Protocol")) continue;
        for_each_list_element(req.headers[i].value, [&](std::string_view e) {
            if (!is_token(e)) protocols_ok = false;
            r.offered_subprotocols.emplace_back(e);
        });
    }
    if (!protocols_ok) return refuse(400, "invalid Sec-WebSocket-Protocol");
    // Subprotocol names are case-sensitive (RFC 6455 11.3.4); the client's order wins.
    for (const auto& offered : r.offered_subprotocols) {
        bool supported = false;
        for (const auto& s : opts.subprotocols) supported = supported || s == offered;
        if (supported) {
            r.subprotocol = offered;
            break;
        }
    }

    if (opts.deflate.enabled) {
        std::string joined;
        for (size_t i = 0; i < req.num_headers; ++i) {
            if (!http::iequals(req.headers[i].name, "Sec-WebSocket-Extensions")) continue;
            if (!joined.empty()) joined += ", ";
            joined.append(req.headers[i].value);
        }
        if (!joined.empty()) {
            NegotiationResult n = negotiate_deflate(joined, opts.deflate);
            if (n.accepted) {
                r.deflate = true;
                r.deflate_params = n.params;
                r.extensions = std::move(n.response);
            }
        }
    }

    r.accept = compute_accept(key);
    r.status = 101;
    return r;
}

void write_accept_response(std::string& out, const HandshakeResult& r, std::string_view subprotocol,
                           const std::vector<std::pair<std::string, std::string>>& extra_headers) {
    const std::string_view proto = subprotocol.empty() ? std::string_view(r.subprotocol) : subprotocol;
    if (!proto.empty() && !is_token(proto)) throw std::invalid_argument("subprotocol must be a token");
    for (const auto& [name, value] : extra_headers) {
        if (!is_token(name)) throw std::invalid_argument("invalid header name");
        if (!valid_field_value(value)) throw std::invalid_argument("header value contains CR, LF or NUL");
    }
    if (!valid_field_value(r.accept) || !valid_field_value(r.extensions))
        throw std::invalid_argument("handshake result contains CR, LF or NUL");
    out.append("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
    out.append("Sec-WebSocket-Accept: ").append(r.accept).append("\r\n");
    if (!proto.empty()) out.append("Sec-WebSocket-Protocol: ").append(proto).append("\r\n");
    if (!r.extensions.empty()) out.append("Sec-WebSocket-Extensions: ").append(r.extensions).append("\r\n");
    for (const auto& [name, value] : extra_headers) out.append(name).append(": ").append(value).append("\r\n");
    out.append("\r\n");
}

void write_refusal_response(std::string& out, int status, std::string_view reason, std::string_view date) {
    if (status < 100 || status > 999) status = 400;
    std::string body(reason);
    for (char& c : body)
        if (c == '\r' || c == '\n' || c == '\0') c = ' ';
    body.push_back('\n');
    out.append("HTTP/1.1 ").append(std::to_string(status)).append(" ").append(reason_phrase(status)).append("\r\n");
    if (!date.empty()) out.append("Date: ").append(date).append("\r\n");
    out.append("Content-Type: text/plain; charset=utf-8\r\n");
    out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    out.append("Connection: close\r\n");
    if (status == 426) out.append("Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n");
    if (status == 405) out.append("Allow: GET\r\n");
    out.append("\r\n").append(body);
}

}  // namespace fasterapi::ws
