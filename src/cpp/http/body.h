// Incremental request body reader: Content-Length or chunked (RFC 9112 6, 7.1),
// any byte split. Decoded bytes are appended to the caller's string; bytes after
// the body (a pipelined request) are left unconsumed.
//
// Chunked rules: chunk-size is 1*HEXDIG (empty, non-hex or more than 60 bits:
// 400); whitespace after it only before a ';' extension; extensions (name,
// token or quoted-string values) are checked for stray bytes and ignored; the
// chunk header line is capped at kMaxChunkLine bytes (400); chunk data must be
// followed by CRLF (400); trailer fields are parsed like header fields and
// discarded, their section capped by Limits::max_header_bytes (431). Bare CR or
// LF anywhere is 400. The body limit (413) is enforced as soon as it is known:
// at start for Content-Length, at each chunk-size digit for chunked.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "http/parser.h"
#include "http/request.h"

namespace fasterapi::http {

class BodyReader {
public:
    enum class Status { NeedMore, Done, Error };
    static constexpr uint32_t kMaxChunkLine = 4096;

    // Prepares for the body announced by req (Content-Length, chunked or none).
    // A Content-Length over limits.max_body_size makes the next feed() fail with
    // 413 before any body byte is read (start(req, limits, err) reports it now).
    void start(const Request& req, const Limits& limits) noexcept;
    Status start(const Request& req, const Limits& limits, Error& err) noexcept;

    // Consumes body bytes from data[0, len), appends decoded bytes to body and
    // sets consumed. Done: the body is complete (bytes after it not consumed).
    // Error: err is filled (400/413/431), consumed counts the bytes before the
    // offending one; later calls keep returning the error.
    Status feed(const char* data, size_t len, size_t& consumed, std::string& body, Error& err);

    bool done() const noexcept { return state_ == State::Done; }
    uint64_t body_size() const noexcept { return total_; }  // decoded bytes so far

private:
    enum class State : uint8_t {
        Done, Failed, Length,
        Size, SizeWs, Ext, ExtQuoted, ExtEscape, SizeLf,
        Data, DataCr, DataLf,
        TrailerStart, TrailerName, TrailerValue, TrailerLf, TrailerEndLf,
    };
    Status fail(int status, const char* reason, Error& err) noexcept;

    uint64_t remaining_ = 0;  // Content-Length left, or the current chunk's bytes left
    uint64_t total_ = 0;
    uint64_t max_body_ = 0;
    size_t max_trailer_ = 0;
    uint32_t line_bytes_ = 0;  // current chunk header line / trailer section
    bool size_digits_ = false;
    State state_ = State::Done;
    Error err_{};
};

}  // namespace fasterapi::http
