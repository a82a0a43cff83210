#include "tools/lib/loadgen_proto.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <strings.h>

#include <stdexcept>

#include "http/parser.h"
#include "http/request.h"

namespace fasterapi::loadgen {

uint32_t MaskSource::next() {
    if (pos_ + 4 > sizeof(pool_)) {
        if (RAND_bytes(pool_, static_cast<int>(sizeof(pool_))) != 1) throw std::runtime_error("RAND_bytes failed");
        pos_ = 0;
    }
    uint32_t m;
    std::memcpy(&m, pool_ + pos_, 4);
    pos_ += 4;
    return m;
}

void append_client_frame(std::vector<uint8_t>& out, uint8_t opcode, bool rsv1, const uint8_t* payload,
                         size_t len, uint32_t mask) {
    uint8_t hdr[14];
    size_t h = 0;
    hdr[h++] = static_cast<uint8_t>(0x80 | (rsv1 ? 0x40 : 0) | (opcode & 0x0f));
    if (len < 126) {
        hdr[h++] = static_cast<uint8_t>(0x80 | len);
    } else if (len <= 0xffff) {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = static_cast<uint8_t>(len >> 8);
        hdr[h++] = static_cast<uint8_t>(len);
    } else {
        hdr[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; --i) hdr[h++] = static_cast<uint8_t>(static_cast<uint64_t>(len) >> (8 * i));
    }
    std::memcpy(hdr + h, &mask, 4);
    h += 4;
    size_t at = out.size();
    out.resize(at + h + len);
    uint8_t* dst = out.data() + at;
    std::memcpy(dst, hdr, h);
    dst += h;
    // Mask 8 bytes at a time through memcpy loads (unaligned-safe), then the tail.
    uint64_t m8 = static_cast<uint64_t>(mask) << 32 | mask;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        std::memcpy(&w, payload + i, 8);
        w ^= m8;
        std::memcpy(dst + i, &w, 8);
    }
    const uint8_t* mb = reinterpret_cast<const uint8_t*>(&mask);
    for (; i < len; ++i) dst[i] = payload[i] ^ mb[i & 3];
}

std::string make_ws_key() {
    uint8_t raw[16];
    if (RAND_bytes(raw, 16) != 1) throw std::runtime_error("RAND_bytes failed");
    char b64[32];
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64), raw, 16);
    return std::string(b64, static_cast<size_t>(n));
}

std::string ws_accept(std::string_view key) {
    static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string in(key);
    in += guid;
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
    char b64[40];
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64), digest, SHA_DIGEST_LENGTH);
    return std::string(b64, static_cast<size_t>(n));
}

namespace {

using http::iequals;
constexpr auto trim = http::trim_ows;

bool parse_bits(std::string_view v, int& out) {
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    if (v.empty() || v.size() > 2) return false;
    int x = 0;
    for (char c : v) {
        if (c < '0' || c > '9') return false;
        x = x * 10 + (c - '0');
    }
    if (x < 8 || x > 15) return false;
    out = x;
    return true;
}
}  // namespace

bool parse_deflate_response(std::string_view value, DeflateParams& out) {
    out = DeflateParams{};
    // One extension expected; a comma would mean the server accepted several.
    if (value.find(',') != std::string_view::npos) return false;
    size_t semi = value.find(';');
    if (!iequals(trim(value.substr(0, semi)), "permessage-deflate")) return false;
    while (semi != std::string_view::npos) {
        value.remove_prefix(semi + 1);
        semi = value.find(';');
        std::string_view param = trim(value.substr(0, semi));
        size_t eq = param.find('=');
        std::string_view name = trim(param.substr(0, eq));
        std::string_view arg = eq == std::string_view::npos ? std::string_view{} : trim(param.substr(eq + 1));
        if (iequals(name, "client_no_context_takeover") && arg.empty()) {
            out.client_no_context_takeover = true;
        } else if (iequals(name, "server_no_context_takeover") && arg.empty()) {
            out.server_no_context_takeover = true;
        } else if (iequals(name, "client_max_window_bits")) {
            if (!parse_bits(arg, out.client_window_bits)) return false;
        } else if (iequals(name, "server_max_window_bits")) {
            if (!parse_bits(arg, out.server_window_bits)) return false;
        } else {
            return false;
        }
    }
    return true;
}

MessageDeflater::MessageDeflater(int window_bits, int level) {
    // zlib cannot make raw deflate streams with an 8-bit window; 9 is the floor.
    if (window_bits < 9) window_bits = 9;
    ok_ = deflateInit2(&zs_, level, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY) == Z_OK;
}
MessageDeflater::~MessageDeflater() {
    if (ok_) deflateEnd(&zs_);
}

bool MessageDeflater::compress(const uint8_t* data, size_t len, std::vector<uint8_t>& out) {
    if (!ok_ || deflateReset(&zs_) != Z_OK) return false;
    out.resize(deflateBound(&zs_, static_cast<uLong>(len)) + 16);
    zs_.next_in = const_cast<Bytef*>(data);
    zs_.avail_in = static_cast<uInt>(len);
    zs_.next_out = out.data();
    zs_.avail_out = static_cast<uInt>(out.size());
    int rc = deflate(&zs_, Z_SYNC_FLUSH);
    if (rc != Z_OK || zs_.avail_in != 0 || zs_.avail_out == 0) return false;
    size_t n = out.size() - zs_.avail_out;
    // RFC 7692 7.2.1: drop the 00 00 ff ff that ends the sync flush.
    if (n < 4 || out[n - 4] != 0 || out[n - 3] != 0 || out[n - 2] != 0xff || out[n - 1] != 0xff) return false;
    out.resize(n - 4);
    if (out.empty()) out.push_back(0);  // empty message: RFC 7692 7.2.3.6 sends a single 0x00
    return true;
}

MessageInflater::MessageInflater() { ok_ = inflateInit2(&zs_, -15) == Z_OK; }
MessageInflater::~MessageInflater() {
    if (ok_) inflateEnd(&zs_);
}

bool SseParser::parse_timestamp(const char* v, size_t n, uint64_t& ts) {
    size_t i = 0;
    uint64_t x = 0;
    while (i < n && i < 20 && v[i] >= '0' && v[i] <= '9') x = x * 10 + static_cast<uint64_t>(v[i++] - '0');
    if (i == 0 || i > 19) return false;
    if (i < n && v[i] != ' ') return false;
    ts = x;
    return true;
}

bool HttpResponseParser::parse_head(int& status) {
    std::string_view h(head_);
    size_t eol = h.find('\n');
    std::string_view line = h.substr(0, eol);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // status-line = HTTP-version SP status-code SP [ reason-phrase ]   (RFC 9112 4)
    if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') return fail("bad status line");
    int code = 0;
    for (int i = 9; i < 12; ++i) {
        if (line[i] < '0' || line[i] > '9') return fail("bad status code");
        code = code * 10 + (line[i] - '0');
    }
    status = code;
    bool http10 = line[7] == '0';
    chunked_ = false;
    has_length_ = false;
    length_ = 0;
    bool conn_close = false, conn_keep = false;
    h.remove_prefix(eol + 1);
    while (!h.empty()) {
        eol = h.find('\n');
        line = h.substr(0, eol);
        h.remove_prefix(eol == std::string_view::npos ? h.size() : eol + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) break;
        size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) return fail("bad header line");
        std::string_view name = line.substr(0, colon);
        std::string_view value = trim(line.substr(colon + 1));
        if (iequals(name, "content-length")) {
            if (value.empty() || value.size() > 18) return fail("bad content-length");
            uint64_t x = 0;
            for (char c : value) {
                if (c < '0' || c > '9') return fail("bad content-length");
                x = x * 10 + static_cast<uint64_t>(c - '0');
            }
            if (has_length_ && x != length_) return fail("conflicting content-length");
            has_length_ = true;
            length_ = x;
        } else if (iequals(name, "transfer-encoding")) {
            // chunked must be the final coding (RFC 9112 6.1); other codings are not decoded here
            std::string_view v = value;
            size_t comma = v.rfind(',');
            if (comma != std::string_view::npos) v = trim(v.substr(comma + 1));
            if (iequals(v, "chunked")) chunked_ = true;
        } else if (iequals(name, "connection")) {
            for (size_t i = 0; i + 5 <= value.size(); ++i) {
                if (strncasecmp(value.data() + i, "close", 5) == 0) conn_close = true;
                if (i + 10 <= value.size() && strncasecmp(value.data() + i, "keep-alive", 10) == 0) conn_keep = true;
            }
        }
    }
    if (chunked_) has_length_ = false;  // RFC 9112 6.3: Transfer-Encoding overrides Content-Length
    keep_alive_ = !conn_close && (!http10 || conn_keep);
    return true;
}

}  // namespace fasterapi::loadgen
