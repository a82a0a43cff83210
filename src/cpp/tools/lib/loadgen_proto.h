// Client-side protocol pieces of the load generator, sans-I/O: WebSocket client
// frames (masked, RFC 6455 5.3) and a streaming parser for server frames
// (unmasked; payload length only, no UTF-8 validation), permessage-deflate for
// one message at a time (RFC 7692), an HTTP/1.1 response parser (Content-Length,
// chunked, close-delimited) and an SSE event splitter. Everything streams: any
// split of the input works, and nothing allocates per message.
#pragma once
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace fasterapi::loadgen {

// ---- WebSocket ---------------------------------------------------------------

// Masking keys from the OS CSPRNG (RAND_bytes), fetched 4 KiB at a time so a
// mask costs a copy, not a syscall.
class MaskSource {
public:
    uint32_t next();

private:
    uint8_t pool_[4096];
    size_t pos_ = sizeof(pool_);
};

// Appends one complete (FIN) client frame: header, mask, masked payload.
void append_client_frame(std::vector<uint8_t>& out, uint8_t opcode, bool rsv1, const uint8_t* payload,
                         size_t len, uint32_t mask);

std::string make_ws_key();                   // base64 of 16 random bytes
std::string ws_accept(std::string_view key);  // base64(SHA-1(key + GUID))

// What the server answered to our permessage-deflate offer.
struct DeflateParams {
    int client_window_bits = 15;
    int server_window_bits = 15;
    bool client_no_context_takeover = false;
    bool server_no_context_takeover = false;
};
// Parses a Sec-WebSocket-Extensions response value. Returns false when it is not
// a well-formed permessage-deflate answer (unknown parameter, bad window bits).
bool parse_deflate_response(std::string_view value, DeflateParams& out);

// Compresses whole messages without context takeover (each message is
// self-contained), so a fixed payload can be compressed once and resent.
class MessageDeflater {
public:
    explicit MessageDeflater(int window_bits = 15, int level = 6);
    ~MessageDeflater();
    MessageDeflater(const MessageDeflater&) = delete;
    MessageDeflater& operator=(const MessageDeflater&) = delete;
    // Replaces out with the compressed payload (trailing 00 00 ff ff stripped).
    bool compress(const uint8_t* data, size_t len, std::vector<uint8_t>& out);

private:
    z_stream zs_{};
    bool ok_ = false;
};

// Inflates server messages, keeping the window across messages (correct whether
// or not the server takes over its context). Output goes to a caller scratch
// buffer and is handed to sink(const uint8_t*, size_t) piece by piece.
class MessageInflater {
public:
    MessageInflater();
    ~MessageInflater();
    MessageInflater(const MessageInflater&) = delete;
    MessageInflater& operator=(const MessageInflater&) = delete;

    template <class Sink>
    bool feed(const uint8_t* data, size_t len, uint8_t* scratch, size_t scratch_len, Sink&& sink) {
        zs_.next_in = const_cast<Bytef*>(data);
        zs_.avail_in = static_cast<uInt>(len);
        for (;;) {
            zs_.next_out = scratch;
            zs_.avail_out = static_cast<uInt>(scratch_len);
            int rc = inflate(&zs_, Z_SYNC_FLUSH);
            size_t produced = scratch_len - zs_.avail_out;
            if (produced) sink(static_cast<const uint8_t*>(scratch), produced);
            if (rc == Z_STREAM_END || rc == Z_NEED_DICT || rc == Z_DATA_ERROR || rc == Z_MEM_ERROR) return false;
            if (zs_.avail_in == 0 && zs_.avail_out != 0) return true;
            if (rc == Z_BUF_ERROR && produced == 0) return zs_.avail_in == 0;
        }
    }
    template <class Sink>
    bool finish(uint8_t* scratch, size_t scratch_len, Sink&& sink) {
        static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
        return feed(tail, 4, scratch, scratch_len, sink);
    }
    bool ok() const noexcept { return ok_; }

private:
    z_stream zs_{};
    bool ok_ = false;
};

// Streaming parser of server-to-client frames. Callbacks on the handler:
//   bool on_frame(uint8_t opcode, bool fin, bool rsv1, uint64_t len)
//   bool on_payload(const uint8_t* p, size_t n)
//   bool on_frame_end()
// A callback returning false stops the feed (feed returns false, error stays None).
struct ServerFrameParser {
    enum class Error : uint8_t { None, ReservedBits, Masked, BadLength };

    template <class H>
    bool feed(const uint8_t* p, size_t n, H& h) {
        while (n) {
            if (!in_payload) {
                // Fast path (every small echo): a whole 2-byte header at hand, nothing buffered,
                // no reserved bits, no mask, 7-bit length. Same checks and callbacks as below.
                if (have == 0 && n >= 2 && !(p[0] & 0x30) && (p[1] & 0xff) < 126) {
                    hdr[0] = p[0];
                    hdr[1] = p[1];
                    remaining = p[1];
                    p += 2;
                    n -= 2;
                    in_payload = true;
                    if (!h.on_frame(static_cast<uint8_t>(hdr[0] & 0x0f), (hdr[0] & 0x80) != 0,
                                    (hdr[0] & 0x40) != 0, remaining))
                        return false;
                    if (remaining == 0) {
                        in_payload = false;
                        if (!h.on_frame_end()) return false;
                    }
                    continue;
                }
                size_t take = need - have;
                if (take > n) take = n;
                std::memcpy(hdr + have, p, take);
                have = static_cast<uint8_t>(have + take);
                p += take;
                n -= take;
                if (have < need) return true;
                if (need == 2) {
                    if (hdr[0] & 0x30) return fail(Error::ReservedBits);  // RSV2/RSV3: no extension uses them
                    if (hdr[1] & 0x80) return fail(Error::Masked);        // servers must not mask (5.1)
                    uint8_t l7 = hdr[1] & 0x7f;
                    if (l7 == 126) { need = 4; continue; }
                    if (l7 == 127) { need = 10; continue; }
                    remaining = l7;
                } else if (need == 4) {
                    remaining = static_cast<uint64_t>(hdr[2]) << 8 | hdr[3];
                } else {
                    remaining = 0;
                    for (int i = 2; i < 10; ++i) remaining = remaining << 8 | hdr[i];
                    if (remaining >> 63) return fail(Error::BadLength);
                }
                have = 0;
                need = 2;
                in_payload = true;
                if (!h.on_frame(static_cast<uint8_t>(hdr[0] & 0x0f), (hdr[0] & 0x80) != 0, (hdr[0] & 0x40) != 0,
                                remaining))
                    return false;
                if (remaining == 0) {
                    in_payload = false;
                    if (!h.on_frame_end()) return false;
                }
                continue;
            }
            size_t take = remaining < n ? static_cast<size_t>(remaining) : n;
            if (!h.on_payload(p, take)) return false;
            p += take;
            n -= take;
            remaining -= take;
            if (remaining == 0) {
                in_payload = false;
                if (!h.on_frame_end()) return false;
            }
        }
        return true;
    }
    bool fail(Error e) {
        error = e;
        return false;
    }

    uint64_t remaining = 0;
    uint8_t hdr[14] = {};
    uint8_t have = 0;
    uint8_t need = 2;
    bool in_payload = false;
    Error error = Error::None;
};

// ---- HTTP/1.1 responses ------------------------------------------------------------

// Handler callbacks:
//   bool on_head(int status)                 headers parsed (interim 1xx are skipped)
//   bool on_body(const uint8_t* p, size_t n) de-chunked body bytes
//   bool on_complete()                       message done (keep_alive() tells if the
//                                            connection may carry the next one)
class HttpResponseParser {
public:
    template <class H>
    bool feed(const uint8_t* p, size_t n, H& h);
    // The peer closed: completes a close-delimited body (calling on_complete).
    // True if a message completed.
    template <class H>
    bool eof(H& h) {
        if (st_ != St::UntilClose) return false;
        st_ = St::Head;
        h.on_complete();
        return true;
    }
    bool keep_alive() const noexcept { return keep_alive_; }
    bool idle() const noexcept { return st_ == St::Head && head_.empty(); }
    const char* error() const noexcept { return error_; }
    static constexpr size_t kMaxHead = 64 * 1024;

private:
    enum class St : uint8_t { Head, Length, ChunkSize, ChunkExt, ChunkData, ChunkCrlf, Trailer, UntilClose };
    bool fail(const char* why) {
        error_ = why;
        return false;
    }
    // Parses head_ (status line + fields); sets status, framing and keep-alive.
    bool parse_head(int& status);
    bool end_size_line() {
        if (!size_digits_) return fail("bad chunk size");
        if (chunk_size_ == 0) {
            st_ = St::Trailer;
            line_len_ = 0;
        } else {
            st_ = St::ChunkData;
            remaining_ = chunk_size_;
        }
        return true;
    }

    std::string head_;
    uint64_t remaining_ = 0;
    uint64_t chunk_size_ = 0;
    size_t line_len_ = 0;
    const char* error_ = nullptr;
    St st_ = St::Head;
    bool size_digits_ = false;
    bool keep_alive_ = true;
    // From the head just parsed:
    bool chunked_ = false;
    bool has_length_ = false;
    uint64_t length_ = 0;
};

template <class H>
bool HttpResponseParser::feed(const uint8_t* p, size_t n, H& h) {
    while (n) {
        switch (st_) {
        case St::Head: {
            const void* nl = std::memchr(p, '\n', n);
            size_t take = nl ? static_cast<size_t>(static_cast<const uint8_t*>(nl) - p) + 1 : n;
            if (head_.size() + take > kMaxHead) return fail("response head too large");
            head_.append(reinterpret_cast<const char*>(p), take);
            p += take;
            n -= take;
            if (!nl) return true;
            size_t hs = head_.size();
            bool blank = (hs >= 2 && head_[hs - 2] == '\n') || (hs >= 3 && head_[hs - 2] == '\r' && head_[hs - 3] == '\n');
            if (hs <= 2 && (head_ == "\r\n" || head_ == "\n")) {  // stray CRLF between messages
                head_.clear();
                continue;
            }
            if (!blank) continue;
            int status = 0;
            if (!parse_head(status)) return false;
            head_.clear();
            if (status >= 100 && status < 200) continue;  // interim response: the real one follows
            if (!h.on_head(status)) return false;
            if (status == 204 || status == 304 || (has_length_ && length_ == 0 && !chunked_)) {
                if (!h.on_complete()) return false;
            } else if (chunked_) {
                st_ = St::ChunkSize;
                chunk_size_ = 0;
                size_digits_ = false;
            } else if (has_length_) {
                st_ = St::Length;
                remaining_ = length_;
            } else {
                st_ = St::UntilClose;
                keep_alive_ = false;
            }
            break;
        }
        case St::Length:
        case St::ChunkData: {
            size_t take = remaining_ < n ? static_cast<size_t>(remaining_) : n;
            if (!h.on_body(p, take)) return false;
            p += take;
            n -= take;
            remaining_ -= take;
            if (remaining_ == 0) {
                if (st_ == St::Length) {
                    st_ = St::Head;
                    if (!h.on_complete()) return false;
                } else {
                    st_ = St::ChunkCrlf;
                }
            }
            break;
        }
        case St::UntilClose:
            if (!h.on_body(p, n)) return false;
            n = 0;
            break;
        case St::ChunkSize: {
            uint8_t c = *p++;
            --n;
            int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                                     : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
            if (d >= 0) {
                if (chunk_size_ >> 56) return fail("chunk size overflow");
                chunk_size_ = chunk_size_ << 4 | static_cast<uint64_t>(d);
                size_digits_ = true;
            } else if (c == ';' || c == ' ' || c == '\t') {
                st_ = St::ChunkExt;
            } else if (c == '\n') {
                if (!end_size_line()) return false;
            } else if (c != '\r') {
                return fail("bad chunk size");
            }
            break;
        }
        case St::ChunkExt: {
            const void* nl = std::memchr(p, '\n', n);
            if (!nl) return true;
            size_t skip = static_cast<size_t>(static_cast<const uint8_t*>(nl) - p) + 1;
            p += skip;
            n -= skip;
            if (!end_size_line()) return false;
            break;
        }
        case St::ChunkCrlf: {
            uint8_t c = *p++;
            --n;
            if (c == '\n') {
                st_ = St::ChunkSize;
                chunk_size_ = 0;
                size_digits_ = false;
            } else if (c != '\r') {
                return fail("missing CRLF after chunk");
            }
            break;
        }
        case St::Trailer: {
            uint8_t c = *p++;
            --n;
            if (c == '\n') {
                if (line_len_ == 0) {
                    st_ = St::Head;
                    if (!h.on_complete()) return false;
                }
                line_len_ = 0;
            } else if (c != '\r') {
                ++line_len_;
            }
            break;
        }
        }
    }
    return true;
}

// ---- Server-Sent Events ------------------------------------------------------------

// Splits an event stream into events (a blank line ends one, if it had data).
// Only each line's first bytes are kept, so huge data lines cost no memory.
// Calls h.on_event(bool has_timestamp, uint64_t timestamp_ns) where the
// timestamp is a leading decimal number in the event's first data line
// ("data: 123456789 ...").
class SseParser {
public:
    template <class H>
    void feed(const uint8_t* p, size_t n, H& h) {
        const char* s = reinterpret_cast<const char*>(p);
        while (n) {
            const char* nl = static_cast<const char*>(std::memchr(s, '\n', n));
            size_t len = nl ? static_cast<size_t>(nl - s) : n;
            if (nl && line_.empty() && !truncated_) {
                line(s, len, h);  // whole line in the buffer: no copy
            } else {
                size_t room = kKeep - line_.size();
                line_.append(s, len < room ? len : room);
                if (len > room) truncated_ = true;
                if (nl) {
                    line(line_.data(), line_.size(), h);
                    line_.clear();
                    truncated_ = false;
                }
            }
            if (!nl) return;
            s += len + 1;
            n -= len + 1;
        }
    }
    static bool parse_timestamp(const char* v, size_t n, uint64_t& ts);

private:
    static constexpr size_t kKeep = 64;
    template <class H>
    void line(const char* s, size_t n, H& h) {
        if (n && s[n - 1] == '\r') --n;
        if (n == 0) {
            if (has_data_) h.on_event(has_ts_, ts_);
            has_data_ = has_ts_ = false;
            return;
        }
        if (n >= 4 && std::memcmp(s, "data", 4) == 0 && (n == 4 || s[4] == ':')) {
            if (!has_data_) {
                const char* v = s + 5;
                size_t vn = n > 5 ? n - 5 : 0;
                if (vn && *v == ' ') ++v, --vn;
                has_ts_ = parse_timestamp(v, vn, ts_);
            }
            has_data_ = true;
        }
    }

    std::string line_;
    uint64_t ts_ = 0;
    bool has_data_ = false;
    bool has_ts_ = false;
    bool truncated_ = false;
};

}  // namespace fasterapi::loadgen
