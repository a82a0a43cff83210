// fasterapi._core.http: the HTTP/1.1 request parser, body reader and response
// writer, for tests and tools (the server calls the C++ directly).
#include <pybind11/eval.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bindings/registry.h"
#include "http/body.h"
#include "http/parser.h"
#include "http/response.h"
#include "http/status.h"

namespace py = pybind11;
using namespace fasterapi;

namespace {

// HttpError(status, reason): a ValueError carrying the status to answer with.
py::handle http_error_type;

[[noreturn]] void raise_http_error(const http::Error& err) {
    py::object e = py::reinterpret_borrow<py::object>(http_error_type)(err.status, err.reason);
    PyErr_SetObject(http_error_type.ptr(), e.ptr());
    throw py::error_already_set();
}

std::string_view view_of(const py::buffer& b, py::buffer_info& info) {
    info = b.request();
    if (info.ndim > 1 || (info.ndim == 1 && info.strides[0] != info.itemsize))
        throw py::value_error("expected a contiguous bytes-like object");
    return std::string_view(static_cast<const char*>(info.ptr), static_cast<size_t>(info.size * info.itemsize));
}

http::Limits make_limits(size_t max_request_line, size_t max_header_bytes, size_t max_headers,
                         uint64_t max_body_size) {
    http::Limits l;
    l.max_request_line = max_request_line;
    l.max_header_bytes = max_header_bytes;
    l.max_headers = max_headers;
    l.max_body_size = max_body_size;
    return l;
}

py::dict head_dict(const http::Request& req, long consumed) {
    py::dict d;
    d["method"] = py::str(req.method.data(), req.method.size());
    d["target"] = py::str(req.target.data(), req.target.size());
    d["path"] = py::str(req.path.data(), req.path.size());
    d["query"] = py::str(req.query.data(), req.query.size());
    d["version"] = req.version_minor ? "HTTP/1.1" : "HTTP/1.0";
    d["version_minor"] = req.version_minor;
    py::list headers;
    for (size_t i = 0; i < req.num_headers; ++i)
        headers.append(py::make_tuple(py::bytes(req.headers[i].name.data(), req.headers[i].name.size()),
                                      py::bytes(req.headers[i].value.data(), req.headers[i].value.size())));
    d["headers"] = headers;
    d["keep_alive"] = req.keep_alive;
    d["chunked"] = req.chunked;
    d["content_length"] = req.has_content_length ? py::object(py::int_(req.content_length)) : py::object(py::none());
    d["expect_continue"] = req.expect_continue;
    d["upgrade_websocket"] = req.upgrade_websocket;
    d["consumed"] = consumed;
    return d;
}

struct PyBodyReader {
    http::BodyReader reader;
    std::string body;
};

constexpr size_t kDefLine = http::Limits{}.max_request_line;
constexpr size_t kDefHead = http::Limits{}.max_header_bytes;
constexpr size_t kDefCount = http::Limits{}.max_headers;
constexpr uint64_t kDefBody = http::Limits{}.max_body_size;

}  // namespace

FASTERAPI_BIND(http) {
    auto sub = m.def_submodule("http", "HTTP/1.1 request parser, body reader and response writer (RFC 9112)");

    py::dict scope;
    py::exec(R"(
class HttpError(ValueError):
    """A request the server must refuse: ``status`` is the HTTP status to answer, ``reason`` says why."""

    def __init__(self, status, reason):
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __str__(self):
        return f"{self.status} {self.reason}"
)",
             py::globals(), scope);
    py::object cls = scope["HttpError"];
    cls.attr("__module__") = "fasterapi._core.http";
    sub.attr("HttpError") = cls;
    http_error_type = cls.release();  // kept for the module's lifetime

    sub.def(
        "parse_request",
        [](const py::buffer& data, size_t max_request_line, size_t max_header_bytes, size_t max_headers) -> py::object {
            py::buffer_info info;
            std::string_view in = view_of(data, info);
            auto req = std::make_unique<http::Request>();
            http::Error err;
            long r = http::parse_request_head(in.data(), in.size(), *req,
                                              make_limits(max_request_line, max_header_bytes, max_headers, kDefBody),
                                              err);
            if (r == -2) return py::none();
            if (r < 0) raise_http_error(err);
            return head_dict(*req, r);
        },
        py::arg("data"), py::arg("max_request_line") = kDefLine, py::arg("max_header_bytes") = kDefHead,
        py::arg("max_headers") = kDefCount,
        "Parse one request head. None when more bytes are needed, else a dict (method, target, path, query, "
        "version, version_minor, headers [(bytes, bytes)], keep_alive, chunked, content_length, expect_continue, "
        "upgrade_websocket, consumed). Raises HttpError(status, reason).");

    sub.def(
        "parse_request_with_body",
        [](const py::buffer& data, size_t max_request_line, size_t max_header_bytes, size_t max_headers,
           uint64_t max_body_size) -> py::object {
            py::buffer_info info;
            std::string_view in = view_of(data, info);
            auto req = std::make_unique<http::Request>();
            http::Error err;
            const http::Limits lim = make_limits(max_request_line, max_header_bytes, max_headers, max_body_size);
            long r = http::parse_request_head(in.data(), in.size(), *req, lim, err);
            if (r == -2) return py::none();
            if (r < 0) raise_http_error(err);
            http::BodyReader br;
            if (br.start(*req, lim, err) == http::BodyReader::Status::Error) raise_http_error(err);
            std::string body;
            size_t consumed = 0;
            auto head = static_cast<size_t>(r);
            auto st = br.feed(in.data() + head, in.size() - head, consumed, body, err);
            if (st == http::BodyReader::Status::Error) raise_http_error(err);
            if (st == http::BodyReader::Status::NeedMore) return py::none();
            py::dict d = head_dict(*req, static_cast<long>(head + consumed));
            d["body"] = py::bytes(body);
            return d;
        },
        py::arg("data"), py::arg("max_request_line") = kDefLine, py::arg("max_header_bytes") = kDefHead,
        py::arg("max_headers") = kDefCount, py::arg("max_body_size") = kDefBody,
        "Parse one whole request (head and Content-Length or chunked body). None when incomplete, else the "
        "parse_request dict plus body (decoded bytes); consumed covers head and body, so pipelined bytes follow. "
        "Raises HttpError.");

    py::class_<PyBodyReader>(sub, "BodyReader", "Incremental request body decoder (Content-Length or chunked).")
        .def(py::init([](bool chunked, std::optional<uint64_t> content_length, uint64_t max_body_size,
                         size_t max_trailer_bytes) {
                 auto self = std::make_unique<PyBodyReader>();
                 http::Request req;
                 req.chunked = chunked;
                 req.has_content_length = content_length.has_value();
                 req.content_length = content_length.value_or(0);
                 http::Error err;
                 if (self->reader.start(req, make_limits(kDefLine, max_trailer_bytes, kDefCount, max_body_size), err) ==
                     http::BodyReader::Status::Error)
                     raise_http_error(err);
                 return self;
             }),
             py::kw_only(), py::arg("chunked") = false, py::arg("content_length") = py::none(),
             py::arg("max_body_size") = kDefBody, py::arg("max_trailer_bytes") = kDefHead)
        .def(
            "feed",
            [](PyBodyReader& self, const py::buffer& data) {
                py::buffer_info info;
                std::string_view in = view_of(data, info);
                size_t consumed = 0;
                http::Error err;
                self.body.clear();
                auto st = self.reader.feed(in.data(), in.size(), consumed, self.body, err);
                if (st == http::BodyReader::Status::Error) raise_http_error(err);
                return py::make_tuple(st == http::BodyReader::Status::Done, consumed, py::bytes(self.body));
            },
            py::arg("data"),
            "Feed bytes; returns (done, consumed, decoded bytes of this call). Bytes after the body are not "
            "consumed. Raises HttpError (400, 413, 431).")
        .def_property_readonly("done", [](const PyBodyReader& self) { return self.reader.done(); })
        .def_property_readonly("body_size", [](const PyBodyReader& self) { return self.reader.body_size(); });

    sub.def(
        "status_reason", [](int status) { return std::string(http::status_reason(status)); }, py::arg("status"),
        "Reason phrase of a status code ('' if unregistered).");
    sub.def(
        "response_head",
        [](int status, const http::HeaderPairs& headers, std::optional<uint64_t> content_length, bool keep_alive,
           bool chunked, bool add_date) {
            std::string out;
            http::append_response_head(out, status, headers, content_length, keep_alive, chunked, add_date);
            return py::bytes(out);
        },
        py::arg("status"), py::arg("headers") = http::HeaderPairs{}, py::arg("content_length") = py::none(),
        py::arg("keep_alive") = true, py::arg("chunked") = false, py::arg("add_date") = true,
        "Status line and headers with framing. ValueError for CR/LF/NUL in a header or a non-token name.");
    sub.def(
        "simple_response",
        [](int status, std::string_view content_type, std::string_view body, bool keep_alive, bool head_only) {
            std::string out;
            http::append_simple_response(out, status, content_type, body, keep_alive, head_only);
            return py::bytes(out);
        },
        py::arg("status"), py::arg("content_type") = "text/plain; charset=utf-8", py::arg("body") = "",
        py::arg("keep_alive") = true, py::arg("head_only") = false, "A complete small response (errors).");
    sub.def(
        "chunk",
        [](std::string_view data) {
            std::string out;
            http::append_chunk(out, data);
            return py::bytes(out);
        },
        py::arg("data"), "Chunked transfer-coding frame for data (b'' for empty data).");
    sub.def("last_chunk", []() { return py::bytes("0\r\n\r\n", 5); }, "The terminating zero-size chunk.");
    sub.def("http_date", []() { return std::string(http::http_date()); }, "Current IMF-fixdate (cached per second).");
    sub.def("format_http_date", &http::format_http_date, py::arg("unix_seconds"));
}
