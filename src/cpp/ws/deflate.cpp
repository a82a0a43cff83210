#include "ws/deflate.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "http/parser.h"
#include "http/request.h"

namespace fasterapi::ws {
namespace {

constexpr uint8_t kTail[4] = {0x00, 0x00, 0xff, 0xff};  // RFC 7692 7.2.1 / 7.2.2

int clamp_window(int bits) { return std::clamp(bits, 9, 15); }
constexpr int kInflateWindowBits = 15;

// Grows s so that `need` bytes fit, doubling for amortised appends but never past
// max(need, bound): the inflate bound is what keeps a decompression bomb from
// reserving twice the allowed message size.
void reserve_bounded(std::string& s, size_t need, size_t bound) {
    if (need <= s.capacity()) return;
    size_t cap = std::max(std::min(s.capacity() * 2, std::max(bound, need)), need);
    // libstdc++'s reserve() rounds a growth up to twice the old capacity, which would
    // defeat the bound; a fresh string reserves exactly.
    std::string grown;
    grown.reserve(cap);
    grown.append(s);
    s.swap(grown);
}

}  // namespace

// ---------------------------------------------------------------------------
// Inflater

Inflater::Inflater(int window_bits, bool no_context_takeover)
    : window_bits_(clamp_window(window_bits)), no_context_takeover_(no_context_takeover) {}

Inflater::~Inflater() { release(); }

Inflater::Inflater(Inflater&& o) noexcept
    : zs_(std::move(o.zs_)),
      message_total_(std::exchange(o.message_total_, 0)),
      window_bits_(o.window_bits_),
      no_context_takeover_(o.no_context_takeover_),
      stream_ended_(std::exchange(o.stream_ended_, false)),
      message_started_(std::exchange(o.message_started_, false)) {}

Inflater& Inflater::operator=(Inflater&& o) noexcept {
    if (this != &o) {
        release();
        zs_ = std::move(o.zs_);
        message_total_ = std::exchange(o.message_total_, 0);
        window_bits_ = o.window_bits_;
        no_context_takeover_ = o.no_context_takeover_;
        stream_ended_ = std::exchange(o.stream_ended_, false);
        message_started_ = std::exchange(o.message_started_, false);
    }
    return *this;
}

void Inflater::release() noexcept {
    if (zs_) {
        inflateEnd(zs_.get());
        zs_.reset();
    }
    message_total_ = 0;
    stream_ended_ = false;
    message_started_ = false;
}

bool Inflater::ensure_stream() noexcept {
    if (zs_) return true;
    std::unique_ptr<z_stream> zs(new (std::nothrow) z_stream{});
    if (!zs) return false;
    // Negative windowBits: raw deflate, no zlib header (RFC 7692 7.2.2). Always 15, see
    // the header: verdicts must not depend on how the message was split.
    if (inflateInit2(zs.get(), -kInflateWindowBits) != Z_OK) return false;
    zs_ = std::move(zs);
    return true;
}

void Inflater::reset_message() noexcept {
    if (zs_) inflateReset(zs_.get());
    message_total_ = 0;
    stream_ended_ = false;
    message_started_ = false;
}

InflateStatus Inflater::run(const uint8_t* data, size_t len, std::string& out, size_t max_total) {
    // The peer ended the deflate stream with a BFINAL block inside this message. RFC 7692
    // 7.2.3.4 then has it send one more 0x00 (an empty block header) so that appending the
    // tail still "works" for zlib; whatever follows the final block is ignored, as zlib
    // itself does with trailing data.
    if (stream_ended_ || len == 0) return InflateStatus::Ok;
    if (!ensure_stream()) return InflateStatus::Corrupt;
    message_started_ = true;
    if (message_total_ > max_total) {  // caller lowered the limit mid-message
        reset_message();
        return InflateStatus::TooLarge;
    }
    z_stream& z = *zs_;
    z.next_in = const_cast<Bytef*>(data);  // zlib's API is not const-correct; it never writes input
    z.avail_in = 0;
    size_t in_left = len;
    // First guess: deflate rarely beats 4:1 on messages; grow while output keeps filling.
    size_t step = std::clamp<size_t>(len * 4, 256, kMaxStep);
    for (;;) {
        if (z.avail_in == 0 && in_left > 0) {
            size_t chunk = std::min<size_t>(in_left, UINT_MAX);
            z.avail_in = static_cast<uInt>(chunk);
            in_left -= chunk;
        }
        const size_t allowed = max_total - message_total_;
        // One byte past the limit is enough to know the message is too large.
        const size_t room = std::min(step, allowed < kMaxStep ? allowed + 1 : kMaxStep);
        const size_t old = out.size();
        // Saturating: with an "unlimited" max_total the bound must not wrap around.
        const size_t bound = allowed >= SIZE_MAX - old - 1 ? SIZE_MAX : old + allowed + 1;
        reserve_bounded(out, old + room, bound);
        out.resize(old + room);
        z.next_out = reinterpret_cast<Bytef*>(out.data() + old);
        z.avail_out = static_cast<uInt>(room);
        const uInt in_before = z.avail_in;
        const int rc = inflate(&z, Z_SYNC_FLUSH);
        const size_t produced = room - z.avail_out;
        out.resize(old + produced);
        message_total_ += produced;
        if (message_total_ > max_total) {
            reset_message();
            return InflateStatus::TooLarge;
        }
        if (rc == Z_STREAM_END) {
            stream_ended_ = true;
            return InflateStatus::Ok;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {  // Z_DATA_ERROR, Z_NEED_DICT, Z_MEM_ERROR
            reset_message();
            return InflateStatus::Corrupt;
        }
        if (z.avail_out == 0) {  // output full: more may be pending inside zlib
            step = std::min(step * 2, kMaxStep);
            continue;
        }
        if (z.avail_in == 0 && in_left == 0) return InflateStatus::Ok;
        if (produced == 0 && z.avail_in == in_before) {  // no progress: cannot happen with valid zlib
            reset_message();
            return InflateStatus::Corrupt;
        }
    }
}

InflateStatus Inflater::feed(const uint8_t* data, size_t len, std::string& out, size_t max_total) {
    return run(data, len, out, max_total);
}

InflateStatus Inflater::finish(std::string& out, size_t max_total) {
    // A message whose compressed payload was empty carries no deflate data at all
    // (not even the 0x00 of an empty block): treat it as empty and leave the stream
    // untouched, since a lone tail would leave zlib inside an unfinished stored block.
    if (!message_started_) return InflateStatus::Ok;
    if (!stream_ended_) {
        if (!ensure_stream()) return InflateStatus::Corrupt;
        InflateStatus st = run(kTail, sizeof kTail, out, max_total);
        if (st != InflateStatus::Ok) return st;
    }
    if (no_context_takeover_) {
        reset_message();
    } else if (stream_ended_) {
        // A finished deflate stream cannot be continued, but with context takeover the
        // peer's next message may still refer to this window: carry it into a new stream.
        std::string window(size_t{1} << kInflateWindowBits, '\0');
        uInt n = 0;
        z_stream& z = *zs_;
        inflateGetDictionary(&z, reinterpret_cast<Bytef*>(window.data()), &n);
        reset_message();
        if (n > 0) inflateSetDictionary(&z, reinterpret_cast<const Bytef*>(window.data()), n);
    } else {
        message_total_ = 0;
        message_started_ = false;
    }
    return InflateStatus::Ok;
}

// ---------------------------------------------------------------------------
// Deflater

Deflater::Deflater(int window_bits, int mem_level, bool no_context_takeover, int level)
    : window_bits_(clamp_window(window_bits)),
      mem_level_(std::clamp(mem_level, 1, 9)),
      level_(std::clamp(level, -1, 9)),
      no_context_takeover_(no_context_takeover) {}

Deflater::~Deflater() { release(); }

Deflater::Deflater(Deflater&& o) noexcept
    : zs_(std::move(o.zs_)),
      window_bits_(o.window_bits_),
      mem_level_(o.mem_level_),
      level_(o.level_),
      no_context_takeover_(o.no_context_takeover_) {}

Deflater& Deflater::operator=(Deflater&& o) noexcept {
    if (this != &o) {
        release();
        zs_ = std::move(o.zs_);
        window_bits_ = o.window_bits_;
        mem_level_ = o.mem_level_;
        level_ = o.level_;
        no_context_takeover_ = o.no_context_takeover_;
    }
    return *this;
}

void Deflater::release() noexcept {
    if (zs_) {
        deflateEnd(zs_.get());
        zs_.reset();
    }
}

void Deflater::ensure_stream() {
    if (zs_) return;
    auto zs = std::make_unique<z_stream>();
    *zs = z_stream{};
    // Parameters are clamped in the constructor, so only allocation can fail here.
    if (deflateInit2(zs.get(), level_, Z_DEFLATED, -window_bits_, mem_level_, Z_DEFAULT_STRATEGY) != Z_OK)
        throw std::bad_alloc();
    zs_ = std::move(zs);
}

void Deflater::compress(std::string_view in, std::string& out) {
    ensure_stream();
    z_stream& z = *zs_;
    const size_t start = out.size();
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = 0;
    size_t in_left = in.size();
    // deflateBound covers a whole stream; the sync-flush marker and block headers fit in the slack.
    size_t written = 0;
    size_t cap = static_cast<size_t>(deflateBound(&z, static_cast<uLong>(std::min<size_t>(in.size(), UINT_MAX)))) + 16;
    out.resize(start + cap);
    for (;;) {
        if (z.avail_in == 0 && in_left > 0) {
            size_t chunk = std::min<size_t>(in_left, UINT_MAX);
            z.avail_in = static_cast<uInt>(chunk);
            in_left -= chunk;
        }
        if (written == cap) {
            size_t extra = cap / 2 + 64;
            cap += extra;
            out.resize(start + cap);
        }
        const size_t space = std::min<size_t>(cap - written, UINT_MAX);
        z.next_out = reinterpret_cast<Bytef*>(out.data() + start + written);
        z.avail_out = static_cast<uInt>(space);
        const int flush = in_left > 0 ? Z_NO_FLUSH : Z_SYNC_FLUSH;
        const int rc = deflate(&z, flush);
        written += space - z.avail_out;
        if (rc != Z_OK && rc != Z_BUF_ERROR) {  // Z_STREAM_ERROR: state corrupted, cannot happen
            out.resize(start);
            release();
            throw std::bad_alloc();
        }
        // A sync flush is complete when zlib returns with output space left over.
        if (flush == Z_SYNC_FLUSH && z.avail_in == 0 && z.avail_out != 0) break;
    }
    out.resize(start + written);
    if (written == 0) {
        // zlib emits nothing for a flush with no new input right after a flush; the
        // peer appends 00 00 ff ff to whatever we send, so send the header byte of an
        // empty stored block (RFC 7692 7.2.3.6) to keep its stream aligned.
        out.push_back('\0');
        return;
    }
    // Z_SYNC_FLUSH always ends with the empty stored block 00 00 ff ff; the receiver re-adds it.
    if (written >= 4 && std::memcmp(out.data() + out.size() - 4, kTail, 4) == 0) out.resize(out.size() - 4);
    if (no_context_takeover_) deflateReset(&z);
}

// ---------------------------------------------------------------------------
// Negotiation: RFC 6455 9.1
//   Sec-WebSocket-Extensions = extension-list
//   extension-list = 1#extension
//   extension = extension-token *( ";" extension-param )
//   extension-param = token [ "=" (token | quoted-string) ]
//   ; a quoted-string value, once unescaped, MUST conform to token.

namespace {

using http::is_tchar;
using http::is_token;
constexpr auto ieq = http::iequals;

struct Param {
    std::string_view name;
    std::string value;  // unquoted
    bool has_value = false;
    bool value_ok = true;  // a quoted value that unescapes to a non-token is invalid
};

struct Offer {
    std::string_view name;
    std::vector<Param> params;
};

class ExtensionParser {
public:
    explicit ExtensionParser(std::string_view s) : s_(s) {}

    // Whole header -> offers; false on a syntax error.
    bool parse(std::vector<Offer>& offers) {
        for (;;) {
            skip_ows();
            if (at_end()) return true;
            if (peek() == ',') {  // empty list element: RFC 9110 5.6.1 says accept them
                ++i_;
                continue;
            }
            Offer offer;
            offer.name = token();
            if (offer.name.empty()) return false;
            skip_ows();
            while (!at_end() && peek() == ';') {
                ++i_;
                skip_ows();
                Param p;
                p.name = token();
                if (p.name.empty()) return false;
                skip_ows();
                if (!at_end() && peek() == '=') {
                    ++i_;
                    skip_ows();
                    p.has_value = true;
                    if (!at_end() && peek() == '"') {
                        if (!quoted(p.value)) return false;
                        p.value_ok = is_token(p.value);
                    } else {
                        std::string_view v = token();
                        if (v.empty()) return false;
                        p.value.assign(v);
                    }
                    skip_ows();
                }
                offer.params.push_back(std::move(p));
            }
            offers.push_back(std::move(offer));
            if (at_end()) return true;
            if (peek() != ',') return false;
            ++i_;
        }
    }

private:
    bool at_end() const { return i_ >= s_.size(); }
    char peek() const { return s_[i_]; }
    void skip_ows() {
        while (!at_end() && (peek() == ' ' || peek() == '\t')) ++i_;
    }
    std::string_view token() {
        size_t b = i_;
        while (!at_end() && is_tchar(static_cast<unsigned char>(peek()))) ++i_;
        return s_.substr(b, i_ - b);
    }
    // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE  (RFC 9110 5.6.4)
    bool quoted(std::string& out) {
        ++i_;  // opening quote
        while (!at_end()) {
            unsigned char c = static_cast<unsigned char>(peek());
            ++i_;
            if (c == '"') return true;
            if (c == '\\') {
                if (at_end()) return false;
                unsigned char e = static_cast<unsigned char>(peek());
                ++i_;
                if (e != '\t' && (e < 0x20 || e == 0x7f)) return false;
                out.push_back(static_cast<char>(e));
            } else if (c == '\t' || (c >= 0x20 && c != 0x7f)) {
                out.push_back(static_cast<char>(c));
            } else {
                return false;
            }
        }
        return false;  // unterminated
    }

    std::string_view s_;
    size_t i_ = 0;
};

// RFC 7692 7.1.2: "a decimal integer value without leading zeroes between 8 to 15".
int parse_window_bits(std::string_view v) {
    if (v.size() == 1 && v[0] >= '8' && v[0] <= '9') return v[0] - '0';
    if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return 10 + (v[1] - '0');
    return 0;
}

// One offer against our options; false = decline this offer (RFC 7692 5: unknown
// parameter, duplicate parameter or invalid value), then the next one is tried.
bool accept_offer(const Offer& offer, const DeflateOptions& opts, NegotiationResult& r) {
    bool server_nct = false, client_nct = false, has_smwb = false, has_cmwb = false;
    int smwb = 15, cmwb = 15;
    for (const Param& p : offer.params) {
        if (!p.value_ok) return false;
        if (ieq(p.name, "server_no_context_takeover")) {
            if (server_nct || p.has_value) return false;
            server_nct = true;
        } else if (ieq(p.name, "client_no_context_takeover")) {
            if (client_nct || p.has_value) return false;
            client_nct = true;
        } else if (ieq(p.name, "server_max_window_bits")) {
            if (has_smwb || !p.has_value) return false;
            smwb = parse_window_bits(p.value);
            if (smwb == 0) return false;
            has_smwb = true;
        } else if (ieq(p.name, "client_max_window_bits")) {
            if (has_cmwb) return false;
            if (p.has_value) {  // without a value: "I can limit my window if you ask"
                cmwb = parse_window_bits(p.value);
                if (cmwb == 0) return false;
            }
            has_cmwb = true;
        } else {
            return false;
        }
    }
    // zlib >= 1.2.9 refuses a raw deflate window of 8 (256 bytes) and older versions
    // silently used 9, which an 8-bit peer could not decode. Answering with a larger
    // server_max_window_bits is forbidden (RFC 7692 7.1.2.1), so we decline such an
    // offer and let the client's next offer (or no compression) win -- the same choice
    // as websockets; Autobahn 13.* offers 9..15 for this reason.
    if (has_smwb && smwb < 9) return false;

    DeflateParams& pr = r.params;
    pr.server_no_context_takeover = server_nct || opts.server_no_context_takeover;
    pr.client_no_context_takeover = client_nct || opts.client_no_context_takeover;
    const int our_s = clamp_window(opts.server_max_window_bits);
    pr.server_max_window_bits = has_smwb ? std::min(smwb, our_s) : our_s;
    // We may only limit the client's window when it said it can honour a limit.
    pr.client_max_window_bits = has_cmwb ? std::min(cmwb, clamp_window(opts.client_max_window_bits)) : 15;

    std::string& h = r.response;
    h = "permessage-deflate";
    // A server may add *_no_context_takeover even when not offered (RFC 7692 7.1.1);
    // echoing the client's own client_no_context_takeover is allowed and explicit.
    if (pr.server_no_context_takeover) h += "; server_no_context_takeover";
    if (pr.client_no_context_takeover) h += "; client_no_context_takeover";
    // Offered server_max_window_bits must be answered (same or smaller, 7.1.2.1); not
    // offered, we may still announce our own smaller window.
    if (has_smwb || pr.server_max_window_bits < 15)
        h += "; server_max_window_bits=" + std::to_string(pr.server_max_window_bits);
    if (has_cmwb && pr.client_max_window_bits < 15)
        h += "; client_max_window_bits=" + std::to_string(pr.client_max_window_bits);
    r.accepted = true;
    return true;
}

}  // namespace

NegotiationResult negotiate_deflate(std::string_view header, const DeflateOptions& opts) {
    NegotiationResult r;
    if (!opts.enabled || header.empty()) return r;
    std::vector<Offer> offers;
    if (!ExtensionParser(header).parse(offers)) return r;
    for (const Offer& offer : offers) {
        if (!ieq(offer.name, "permessage-deflate")) continue;
        NegotiationResult candidate;
        if (accept_offer(offer, opts, candidate)) return candidate;
    }
    return r;
}

}  // namespace fasterapi::ws
