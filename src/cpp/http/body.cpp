#include "http/body.h"

#include <algorithm>

namespace fasterapi::http {

namespace {
int hex_value(unsigned char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
bool is_ws(unsigned char c) noexcept { return c == ' ' || c == '\t'; }
}  // namespace

void BodyReader::start(const Request& req, const Limits& limits) noexcept {
    Error ignored;
    start(req, limits, ignored);
}

BodyReader::Status BodyReader::start(const Request& req, const Limits& limits, Error& err) noexcept {
    total_ = 0;
    remaining_ = 0;
    line_bytes_ = 0;
    size_digits_ = false;
    max_body_ = limits.max_body_size;
    max_trailer_ = limits.max_header_bytes;
    err_ = Error{};
    if (req.chunked) {
        state_ = State::Size;
        return Status::NeedMore;
    }
    if (req.has_content_length && req.content_length > 0) {
        if (req.content_length > max_body_) return fail(413, "request body too large", err);
        remaining_ = req.content_length;
        state_ = State::Length;
        return Status::NeedMore;
    }
    state_ = State::Done;  // no body (requests without framing have none, RFC 9112 6.3)
    return Status::Done;
}

BodyReader::Status BodyReader::fail(int status, const char* reason, Error& err) noexcept {
    state_ = State::Failed;
    err_ = Error{status, reason};
    err = err_;
    return Status::Error;
}

BodyReader::Status BodyReader::feed(const char* data, size_t len, size_t& consumed, std::string& body,
                                    Error& err) {
    consumed = 0;
    size_t i = 0;
    // On error, consumed counts the bytes before the offending one.
    auto fail_at = [&](int status, const char* reason) {
        consumed = i;
        return fail(status, reason, err);
    };
    while (i < len) {
        const auto c = static_cast<unsigned char>(data[i]);
        switch (state_) {
            case State::Done:
                consumed = i;
                return Status::Done;
            case State::Failed:
                err = err_;
                return Status::Error;
            case State::Length:
            case State::Data: {
                const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, len - i));
                body.append(data + i, n);
                i += n;
                remaining_ -= n;
                total_ += n;
                if (remaining_ == 0) state_ = state_ == State::Length ? State::Done : State::DataCr;
                continue;
            }
            case State::Size:
            case State::SizeWs:
            case State::Ext:
            case State::ExtQuoted:
            case State::ExtEscape:
                if (++line_bytes_ > kMaxChunkLine) return fail_at(400, "chunk header line too long");
                if (state_ == State::Size) {
                    if (int h = hex_value(c); h >= 0) {
                        if (remaining_ >> 60) return fail_at(400, "chunk size too large");
                        remaining_ = (remaining_ << 4) | static_cast<uint64_t>(h);
                        size_digits_ = true;
                        if (remaining_ > max_body_ - total_) return fail_at(413, "request body too large");
                    } else if (!size_digits_) {
                        return fail_at(400, "invalid chunk size");
                    } else if (c == ';') {
                        state_ = State::Ext;
                    } else if (is_ws(c)) {
                        state_ = State::SizeWs;
                    } else if (c == '\r') {
                        state_ = State::SizeLf;
                    } else {
                        return fail_at(400, "invalid chunk size");
                    }
                } else if (state_ == State::SizeWs) {
                    // BWS is only allowed before a chunk extension.
                    if (c == ';') state_ = State::Ext;
                    else if (!is_ws(c)) return fail_at(400, "invalid chunk size");
                } else if (state_ == State::Ext) {
                    if (c == '\r') state_ = State::SizeLf;
                    else if (c == '"') state_ = State::ExtQuoted;
                    else if (!(is_tchar(c) || is_ws(c) || c == '=' || c == ';'))
                        return fail_at(400, "invalid chunk extension");
                } else if (state_ == State::ExtQuoted) {
                    if (c == '"') state_ = State::Ext;
                    else if (c == '\\') state_ = State::ExtEscape;
                    else if (!(is_field_vchar(c) || is_ws(c))) return fail_at(400, "invalid chunk extension");
                } else {  // ExtEscape: quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
                    if (!(is_field_vchar(c) || is_ws(c))) return fail_at(400, "invalid chunk extension");
                    state_ = State::ExtQuoted;
                }
                break;
            case State::SizeLf:
                if (c != '\n') return fail_at(400, "bare CR in chunk header");
                line_bytes_ = 0;
                size_digits_ = false;
                state_ = remaining_ ? State::Data : State::TrailerStart;
                break;
            case State::DataCr:
                if (c != '\r') return fail_at(400, "missing CRLF after chunk data");
                state_ = State::DataLf;
                break;
            case State::DataLf:
                if (c != '\n') return fail_at(400, "missing CRLF after chunk data");
                state_ = State::Size;
                break;
            case State::TrailerStart:
            case State::TrailerName:
            case State::TrailerValue:
            case State::TrailerLf:
            case State::TrailerEndLf:
                if (++line_bytes_ > max_trailer_) return fail_at(431, "trailer section too large");
                if (state_ == State::TrailerStart) {
                    if (c == '\r') state_ = State::TrailerEndLf;
                    else if (is_tchar(c)) state_ = State::TrailerName;
                    else return fail_at(400, "invalid trailer field");
                } else if (state_ == State::TrailerName) {
                    if (c == ':') state_ = State::TrailerValue;
                    else if (!is_tchar(c)) return fail_at(400, "invalid trailer field");
                } else if (state_ == State::TrailerValue) {
                    if (c == '\r') state_ = State::TrailerLf;
                    else if (!(is_field_vchar(c) || is_ws(c))) return fail_at(400, "invalid trailer field");
                } else if (state_ == State::TrailerLf) {
                    if (c != '\n') return fail_at(400, "bare CR in trailer section");
                    state_ = State::TrailerStart;
                } else {
                    if (c != '\n') return fail_at(400, "bare CR in trailer section");
                    state_ = State::Done;
                    consumed = i + 1;
                    return Status::Done;
                }
                break;
        }
        ++i;
    }
    consumed = i;
    if (state_ == State::Done) return Status::Done;
    if (state_ == State::Failed) {
        err = err_;
        return Status::Error;
    }
    return Status::NeedMore;
}

}  // namespace fasterapi::http
