// libFuzzer target: WebSocket opening handshake, server side (ws/handshake.h), on
// requests parsed by the real HTTP head parser, plus base64.
//
// Input: [options byte] [raw request bytes...]
//   bit 0 server subprotocols {"chat", "v2.proto"}
//   bit 1 permessage-deflate enabled (bit 6: with server_no_context_takeover)
//   bit 2 allowed_origins {"http://example.com"}; bit 3 adds "" (no Origin allowed);
//         bit 4 adds "*"
//   bit 5 base64 mode instead: decode(encode(x)) == x and decode is self-consistent
// Checks on every head the parser accepts:
//  - the status is 101/400/403/405/426 with a reason on refusals;
//  - 101 only when every RFC 6455 4.2.1 rule holds, verified here independently
//    (GET, 1.1, Upgrade/Connection tokens, one Host, one Version "13", one 24-char key
//    that is base64 of 16 bytes, Origin allowed), with Sec-WebSocket-Accept equal to
//    base64(SHA-1(key + GUID)) computed here with libcrypto;
//  - the subprotocol is the first one in the client's list that the server supports;
//  - deflate agrees with negotiate_deflate on the joined Sec-WebSocket-Extensions;
//  - write_accept_response / write_refusal_response produce a well-formed head: CRLF
//    lines, no stray CR/LF/NUL, only the expected header names (no injection from the
//    request bytes that end up in the reason), Content-Length equal to the body.
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "http/parser.h"
#include "http/request.h"
#include "ws/base64.h"
#include "ws/deflate.h"
#include "ws/handshake.h"

namespace {

using namespace fasterapi;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "fuzz_ws_handshake: %s\n", what);
    std::abort();
}
void check(bool ok, const char* what) {
    if (!ok) die(what);
}

std::string lower(std::string_view s) {
    std::string o(s);
    for (char& c : o)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return o;
}

std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
}

// Comma-list elements of every field with this name, trimmed, empty ones dropped.
std::vector<std::string_view> list(const http::Request& req, std::string_view name) {
    std::vector<std::string_view> out;
    for (size_t i = 0; i < req.num_headers; ++i) {
        if (!http::iequals(req.headers[i].name, name)) continue;
        std::string_view v = req.headers[i].value;
        for (;;) {
            const size_t c = v.find(',');
            const std::string_view e = trim(v.substr(0, c));
            if (!e.empty()) out.push_back(e);
            if (c == std::string_view::npos) break;
            v.remove_prefix(c + 1);
        }
    }
    return out;
}

bool has_token(const http::Request& req, std::string_view name, std::string_view token) {
    for (std::string_view e : list(req, name))
        if (http::iequals(e, token)) return true;
    return false;
}

bool is_b64_key(std::string_view k) {
    if (k.size() != 24 || k[22] != '=' || k[23] != '=') return false;
    for (size_t i = 0; i < 22; ++i) {
        const char c = k[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/'))
            return false;
    }
    return true;
}

std::string reference_accept(std::string_view key) {
    const std::string in = std::string(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), md);
    unsigned char b64[64];
    const int n = EVP_EncodeBlock(b64, md, SHA_DIGEST_LENGTH);
    return std::string(reinterpret_cast<const char*>(b64), static_cast<size_t>(n));
}

// Splits a response into header lines + body; checks the framing.
struct Response {
    std::string status_line;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};
Response parse_response(const std::string& out) {
    Response r;
    const size_t end = out.find("\r\n\r\n");
    check(end != std::string::npos, "response head not terminated");
    std::string_view head(out.data(), end + 2);
    r.body = out.substr(end + 4);
    bool first = true;
    while (!head.empty()) {
        const size_t eol = head.find("\r\n");
        check(eol != std::string_view::npos, "response line without CRLF");
        const std::string_view line = head.substr(0, eol);
        head.remove_prefix(eol + 2);
        for (char c : line) check(c != '\r' && c != '\n' && c != '\0', "stray CR/LF/NUL in a response line");
        if (first) {
            r.status_line = line;
            first = false;
            continue;
        }
        const size_t colon = line.find(": ");
        check(colon != std::string_view::npos && colon > 0, "response header line without name");
        r.headers.emplace_back(line.substr(0, colon), line.substr(colon + 2));
    }
    return r;
}

void base64_mode(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const std::string enc = ws::base64_encode(in);
    check(enc.size() == (size + 2) / 3 * 4, "base64 length");
    std::string dec;
    check(ws::base64_decode(enc, dec) && dec == in, "base64 round trip");
    check(ws::base64_decoded_size(enc) == size, "base64_decoded_size");
    std::string d2;
    if (ws::base64_decode(in, d2)) {
        check(d2.size() == ws::base64_decoded_size(in), "decoded size differs from base64_decoded_size");
        std::string d3;
        check(ws::base64_decode(ws::base64_encode(d2), d3) && d3 == d2, "decode is not self-consistent");
        for (char c : in) check(c != ' ' && c != '\n' && c != '\r' && c != '\t', "whitespace accepted");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const uint8_t o = data[0];
    if (o & 0x20) {
        base64_mode(data + 1, size - 1);
        return 0;
    }
    ws::HandshakeOptions opts;
    if (o & 1) opts.subprotocols = {"chat", "v2.proto"};
    opts.deflate.enabled = (o & 2) != 0;
    opts.deflate.server_no_context_takeover = (o & 0x40) != 0;
    if (o & 4) opts.allowed_origins.push_back("http://example.com");
    if (o & 8) opts.allowed_origins.push_back("");
    if (o & 16) opts.allowed_origins.push_back("*");

    const std::string raw(reinterpret_cast<const char*>(data + 1), size - 1);
    http::Request req;
    http::Error err;
    const long n = http::parse_request_head(raw.data(), raw.size(), req, http::Limits{}, err);
    // The reason of a refusal may be anything: feed it the request bytes (injection test).
    {
        std::string out;
        const int st = 400 + (o & 31);
        ws::write_refusal_response(out, st, raw.substr(0, 200));
        const Response r = parse_response(out);
        for (const auto& [name, value] : r.headers) {
            static const std::set<std::string> kAllowed = {"content-type", "content-length", "connection",
                                                           "sec-websocket-version", "upgrade", "allow", "date", "server"};
            check(kAllowed.count(lower(name)) == 1, "unexpected header in a refusal (injection?)");
            if (lower(name) == "content-length") check(value == std::to_string(r.body.size()), "refusal Content-Length");
        }
        check(r.status_line.rfind("HTTP/1.1 " + std::to_string(st) + " ", 0) == 0, "refusal status line");
    }
    if (n <= 0) return 0;

    const ws::HandshakeResult res = ws::validate_upgrade(req, opts);
    check(res.status == 101 || res.status == 400 || res.status == 403 || res.status == 405 || res.status == 426,
          "unexpected handshake status");
    check(res.ok() == (res.status == 101), "ok() disagrees with status");
    if (!res.ok()) {
        check(!res.reason.empty(), "refusal without a reason");
        std::string out;
        ws::write_refusal_response(out, res.status, res.reason);
        const Response r = parse_response(out);
        bool has_version = false;
        for (const auto& [name, value] : r.headers)
            if (lower(name) == "sec-websocket-version") has_version = value == "13";
        check(has_version == (res.status == 426), "426 must carry Sec-WebSocket-Version: 13 (and only 426)");
        return 0;
    }

    // Independent check of RFC 6455 4.2.1.
    check(req.method == "GET", "101 for a method other than GET");
    check(req.version_minor >= 1, "101 for HTTP/1.0");
    check(has_token(req, "upgrade", "websocket"), "101 without Upgrade: websocket");
    check(has_token(req, "connection", "upgrade"), "101 without Connection: upgrade");
    check(req.count("host") == 1, "101 without exactly one Host");
    check(req.count("sec-websocket-version") == 1 && req.find("sec-websocket-version") == "13",
          "101 without exactly one Sec-WebSocket-Version: 13");
    check(req.count("sec-websocket-key") == 1, "101 without exactly one key");
    const std::string_view key = req.find("sec-websocket-key");
    check(is_b64_key(key), "101 with a key that is not base64 of 16 bytes");
    check(res.accept == reference_accept(key), "Sec-WebSocket-Accept differs from base64(SHA-1(key + GUID))");
    check(res.accept == ws::compute_accept(key), "compute_accept disagrees with the result");
    if (!opts.allowed_origins.empty()) {
        bool ok = false;
        const bool has_origin = req.has("origin");
        for (const std::string& a : opts.allowed_origins) {
            if (a == "*") ok = true;
            if (a.empty() && !has_origin) ok = true;
            if (!a.empty() && has_origin && http::iequals(req.find("origin"), a)) ok = true;
        }
        check(ok, "101 for an Origin that is not allowed");
        check(req.count("origin") <= 1 || ok, "several Origin fields");
    }
    // Subprotocol: the first of the client's list the server supports.
    std::string want_sub;
    for (std::string_view p : list(req, "sec-websocket-protocol")) {
        bool supported = false;
        for (const std::string& s : opts.subprotocols) supported = supported || s == p;
        if (supported) {
            want_sub = p;
            break;
        }
    }
    check(res.subprotocol == want_sub, "selected subprotocol is not the client's first supported one");
    // Deflate: the same as negotiating the joined extension header.
    std::string joined;
    for (size_t i = 0; i < req.num_headers; ++i) {
        if (!http::iequals(req.headers[i].name, "sec-websocket-extensions")) continue;
        if (!joined.empty()) joined += ", ";
        joined += req.headers[i].value;
    }
    const ws::NegotiationResult neg = ws::negotiate_deflate(joined, opts.deflate);
    check(res.deflate == neg.accepted, "deflate differs from negotiate_deflate");
    if (res.deflate) check(res.extensions == neg.response, "extensions differ from negotiate_deflate");
    if (!res.deflate) check(res.extensions.empty(), "extensions without deflate");

    std::string out;
    ws::write_accept_response(out, res, "");
    const Response r = parse_response(out);
    check(r.status_line == "HTTP/1.1 101 Switching Protocols", "101 status line");
    check(r.body.empty(), "101 with a body");
    int accepts = 0;
    for (const auto& [name, value] : r.headers) {
        const std::string l = lower(name);
        if (l == "sec-websocket-accept") {
            ++accepts;
            check(value == res.accept, "Sec-WebSocket-Accept header value");
        } else if (l == "sec-websocket-protocol") {
            check(value == res.subprotocol && !value.empty(), "Sec-WebSocket-Protocol header value");
        } else if (l == "sec-websocket-extensions") {
            check(value == res.extensions && !value.empty(), "Sec-WebSocket-Extensions header value");
        } else {
            check(l == "upgrade" || l == "connection" || l == "date" || l == "server", "unexpected header in the 101");
        }
    }
    check(accepts == 1, "101 without exactly one Sec-WebSocket-Accept");
    return 0;
}
