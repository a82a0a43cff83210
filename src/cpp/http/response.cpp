#include "http/response.h"

#include <ctime>
#include <stdexcept>

#include "http/parser.h"  // is_tchar, iequals

namespace fasterapi::http {

namespace {

void append_2(char* p, int v) {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
}

// IMF-fixdate (RFC 9110 5.6.7), written by hand: strftime depends on the locale.
void format_date(int64_t t, char out[29]) {
    static constexpr char kDays[] = "SunMonTueWedThuFriSat";
    static constexpr char kMonths[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    std::string_view day(kDays + 3 * tm.tm_wday, 3), mon(kMonths + 3 * tm.tm_mon, 3);
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    day.copy(out, 3);
    out[3] = ',';
    out[4] = ' ';
    append_2(out + 5, tm.tm_mday);
    out[7] = ' ';
    mon.copy(out + 8, 3);
    out[11] = ' ';
    int year = tm.tm_year + 1900;
    append_2(out + 12, (year / 100) % 100);
    append_2(out + 14, year % 100);
    out[16] = ' ';
    append_2(out + 17, tm.tm_hour);
    out[19] = ':';
    append_2(out + 20, tm.tm_min);
    out[22] = ':';
    append_2(out + 23, tm.tm_sec);
    std::string_view(" GMT").copy(out + 25, 4);
}

void check_header(const std::string& name, const std::string& value) {
    if (name.empty()) throw std::invalid_argument("response header name is empty");
    for (char c : name)
        if (!is_tchar(static_cast<unsigned char>(c)))
            throw std::invalid_argument("response header name '" + name + "' contains a character that is not allowed in a token");
    for (char c : value)
        if (c == '\r' || c == '\n' || c == '\0')
            throw std::invalid_argument("response header '" + name + "' value contains CR, LF or NUL");
}

}  // namespace

std::string format_http_date(int64_t unix_seconds) {
    char buf[29];
    format_date(unix_seconds, buf);
    return std::string(buf, 29);
}

std::string_view http_date() {
    thread_local int64_t cached_second = -1;
    thread_local char cached[29];
    const auto now = static_cast<int64_t>(std::time(nullptr));
    if (now != cached_second) {
        format_date(now, cached);
        cached_second = now;
    }
    return std::string_view(cached, 29);
}

void append_status_line(std::string& out, int status) {
    if (status < 100 || status > 999) throw std::invalid_argument("HTTP status must be in 100..999");
    out.append("HTTP/1.1 ");
    out.push_back(static_cast<char>('0' + status / 100));
    out.push_back(static_cast<char>('0' + status / 10 % 10));
    out.push_back(static_cast<char>('0' + status % 10));
    out.push_back(' ');
    out.append(status_reason(status));
    out.append("\r\n");
}

void append_response_head(std::string& out, int status, const HeaderPairs& headers,
                          std::optional<uint64_t> content_length, bool keep_alive, bool chunked, bool add_date) {
    if (status < 100 || status > 999) throw std::invalid_argument("HTTP status must be in 100..999");
    // RFC 9110 8.6 / RFC 9112 6.1: no framing headers on 1xx and 204.
    const bool framing_allowed = !((status >= 100 && status < 200) || status == 204);
    const bool add_te = chunked && framing_allowed;
    const bool add_cl = !chunked && content_length.has_value() && framing_allowed;
    bool has_date = false;
    for (const auto& [name, value] : headers) {
        check_header(name, value);
        if (iequals(name, "date")) has_date = true;
        if ((add_te || add_cl) && (iequals(name, "content-length") || iequals(name, "transfer-encoding")))
            throw std::invalid_argument("response header '" + name + "' conflicts with the framing the server adds");
    }
    out.reserve(out.size() + 128);
    append_status_line(out, status);
    if (add_date && !has_date) {
        out.append("Date: ");
        out.append(http_date());
        out.append("\r\n");
    }
    for (const auto& [name, value] : headers) {
        out.append(name);
        out.append(": ");
        out.append(value);
        out.append("\r\n");
    }
    if (add_te) {
        out.append("Transfer-Encoding: chunked\r\n");
    } else if (add_cl) {
        out.append("Content-Length: ");
        append_uint(out, *content_length);
        out.append("\r\n");
    }
    if (!keep_alive) out.append("Connection: close\r\n");
    out.append("\r\n");
}

void append_simple_response(std::string& out, int status, std::string_view content_type, std::string_view body,
                            bool keep_alive, bool head_only) {
    HeaderPairs headers;
    if (!content_type.empty() && !status_has_no_content(status))
        headers.emplace_back("Content-Type", std::string(content_type));
    const bool no_content = status_has_no_content(status);
    append_response_head(out, status, headers,
                         no_content ? std::nullopt : std::optional<uint64_t>(body.size()), keep_alive);
    if (!head_only && !no_content) out.append(body);
}

void append_chunk(std::string& out, std::string_view data) {
    if (data.empty()) return;
    static constexpr char kHex[] = "0123456789abcdef";
    char buf[16];
    size_t n = 0;
    size_t v = data.size();
    while (v) {
        buf[n++] = kHex[v & 15];
        v >>= 4;
    }
    while (n) out.push_back(buf[--n]);
    out.append("\r\n");
    out.append(data);
    out.append("\r\n");
}

void append_last_chunk(std::string& out) { out.append("0\r\n\r\n"); }

}  // namespace fasterapi::http
