// fasterapi._core.handshake: the WebSocket opening handshake (RFC 6455 4.2).
#include <pybind11/stl.h>

#include <string>
#include <utility>
#include <vector>

#include "bindings/registry.h"
#include "http/request.h"
#include "ws/handshake.h"

namespace py = pybind11;
using namespace fasterapi;
using namespace fasterapi::ws;

namespace {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

py::dict result_dict(const HandshakeResult& r) {
    py::dict d;
    d["status"] = r.status;
    d["reason"] = r.reason;
    d["accept"] = r.accept;
    d["subprotocol"] = r.subprotocol;
    d["offered_subprotocols"] = r.offered_subprotocols;
    d["deflate"] = r.deflate;
    d["extensions"] = r.extensions;
    py::dict p;
    p["server_no_context_takeover"] = r.deflate_params.server_no_context_takeover;
    p["client_no_context_takeover"] = r.deflate_params.client_no_context_takeover;
    p["server_max_window_bits"] = r.deflate_params.server_max_window_bits;
    p["client_max_window_bits"] = r.deflate_params.client_max_window_bits;
    d["deflate_params"] = p;
    return d;
}

}  // namespace

FASTERAPI_BIND(handshake) {
    auto sub = m.def_submodule("handshake", "WebSocket opening handshake (RFC 6455 4.2)");

    sub.def("compute_accept", &compute_accept, py::arg("key"),
            "Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA1(key + GUID)).");

    sub.def(
        "validate",
        [](const std::string& method, const std::string& target, const HeaderList& headers, int version_minor,
           const std::vector<std::string>& subprotocols, bool compression,
           const std::vector<std::string>& allowed_origins) {
            if (headers.size() > http::kMaxHeadersHardCap) throw py::value_error("too many headers");
            // The request's views point into `method`, `target` and `headers`, alive for this call.
            auto req = std::make_unique<http::Request>();
            req->method = method;
            req->target = target;
            std::string_view path = target;
            if (size_t q = path.find('?'); q != std::string_view::npos) {
                req->query = path.substr(q + 1);
                path = path.substr(0, q);
            }
            req->path = path;
            req->version_minor = version_minor;
            for (const auto& [name, value] : headers) req->headers[req->num_headers++] = http::Header{name, value};
            HandshakeOptions opts;
            opts.subprotocols = subprotocols;
            opts.deflate.enabled = compression;
            opts.allowed_origins = allowed_origins;
            return result_dict(validate_upgrade(*req, opts));
        },
        py::arg("method"), py::arg("target"), py::arg("headers"), py::arg("version_minor") = 1,
        py::arg("subprotocols") = std::vector<std::string>{}, py::arg("compression") = false,
        py::arg("allowed_origins") = std::vector<std::string>{},
        "Validate an upgrade request -> dict(status, reason, accept, subprotocol, offered_subprotocols, "
        "deflate, extensions, deflate_params).");

    sub.def(
        "accept_response",
        [](const std::string& accept, const std::string& subprotocol, const std::string& extensions,
           const HeaderList& extra_headers) {
            HandshakeResult r;
            r.status = 101;
            r.accept = accept;
            r.extensions = extensions;
            std::string out;
            write_accept_response(out, r, subprotocol, extra_headers);  // invalid_argument -> ValueError
            return py::bytes(out);
        },
        py::arg("accept"), py::arg("subprotocol") = "", py::arg("extensions") = "",
        py::arg("extra_headers") = HeaderList{}, "The 101 Switching Protocols response bytes.");

    sub.def(
        "refusal_response",
        [](int status, const std::string& reason) {
            std::string out;
            write_refusal_response(out, status, reason);
            return py::bytes(out);
        },
        py::arg("status"), py::arg("reason"), "A refusal response (text/plain body, Connection: close).");
}
