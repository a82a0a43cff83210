// fasterapi._core.deflate: permessage-deflate codecs and negotiation (RFC 7692).
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>

#include "bindings/registry.h"
#include "ws/deflate.h"

namespace py = pybind11;
using namespace fasterapi::ws;

namespace {

std::string_view view(const py::bytes& b) {
    char* data = nullptr;
    Py_ssize_t len = 0;
    if (PyBytes_AsStringAndSize(b.ptr(), &data, &len) != 0) throw py::error_already_set();
    return {data, static_cast<size_t>(len)};
}

void check_window_bits(int bits, const char* name) {
    if (bits < 8 || bits > 15) throw py::value_error(std::string(name) + " must be in 8..15");
}

py::dict params_dict(const DeflateParams& p) {
    py::dict d;
    d["server_no_context_takeover"] = p.server_no_context_takeover;
    d["client_no_context_takeover"] = p.client_no_context_takeover;
    d["server_max_window_bits"] = p.server_max_window_bits;
    d["client_max_window_bits"] = p.client_max_window_bits;
    return d;
}

}  // namespace

FASTERAPI_BIND(deflate) {
    auto sub = m.def_submodule("deflate", "permessage-deflate (RFC 7692): Deflater, Inflater, negotiate");

    py::class_<Deflater>(sub, "Deflater",
                         "Compresses whole messages for one connection (raw deflate, Z_SYNC_FLUSH, tail stripped).")
        .def(py::init([](int window_bits, int mem_level, bool no_context_takeover, int level) {
                 check_window_bits(window_bits, "window_bits");
                 if (mem_level < 1 || mem_level > 9) throw py::value_error("mem_level must be in 1..9");
                 if (level < -1 || level > 9) throw py::value_error("level must be in -1..9");
                 return Deflater(window_bits, mem_level, no_context_takeover, level);
             }),
             py::arg("window_bits") = 15, py::arg("mem_level") = 8, py::arg("no_context_takeover") = false,
             py::arg("level") = 1)
        .def(
            "compress",
            [](Deflater& d, const py::bytes& data) {
                std::string out;
                d.compress(view(data), out);
                return py::bytes(out);
            },
            py::arg("data"), "One message -> its permessage-deflate payload.")
        .def_property_readonly("window_bits", &Deflater::window_bits)
        .def_property_readonly("no_context_takeover", &Deflater::no_context_takeover);

    py::class_<Inflater>(sub, "Inflater", "Decompresses the messages of one connection.")
        .def(py::init([](int window_bits, bool no_context_takeover) {
                 check_window_bits(window_bits, "window_bits");
                 return Inflater(window_bits, no_context_takeover);
             }),
             py::arg("window_bits") = 15, py::arg("no_context_takeover") = false)
        .def(
            "inflate",
            [](Inflater& inf, const py::bytes& payload, size_t max_size) {
                std::string_view in = view(payload);
                std::string out;
                InflateStatus st =
                    inf.feed(reinterpret_cast<const uint8_t*>(in.data()), in.size(), out, max_size);
                if (st == InflateStatus::Ok) st = inf.finish(out, max_size);
                if (st == InflateStatus::TooLarge) throw py::value_error("message too large");
                if (st == InflateStatus::Corrupt) throw py::value_error("corrupt deflate data");
                return py::bytes(out);
            },
            py::arg("payload"), py::arg("max_size") = static_cast<size_t>(64) << 20,
            "One whole message's payload (all frames joined) -> its plain bytes. Raises ValueError "
            "(\"message too large\" / \"corrupt deflate data\").")
        .def_property_readonly("window_bits", &Inflater::window_bits)
        .def_property_readonly("no_context_takeover", &Inflater::no_context_takeover);

    sub.def(
        "negotiate",
        [](std::string_view header, bool enabled, int server_max_window_bits, int client_max_window_bits,
           bool server_no_context_takeover, bool client_no_context_takeover, int mem_level,
           int compression_level, size_t min_size) {
            check_window_bits(server_max_window_bits, "server_max_window_bits");
            check_window_bits(client_max_window_bits, "client_max_window_bits");
            DeflateOptions o;
            o.enabled = enabled;
            o.server_max_window_bits = server_max_window_bits;
            o.client_max_window_bits = client_max_window_bits;
            o.server_no_context_takeover = server_no_context_takeover;
            o.client_no_context_takeover = client_no_context_takeover;
            o.mem_level = mem_level;
            o.compression_level = compression_level;
            o.min_size = min_size;
            NegotiationResult r = negotiate_deflate(header, o);
            return py::make_tuple(r.accepted, r.response, params_dict(r.params));
        },
        py::arg("header"), py::kw_only(), py::arg("enabled") = true, py::arg("server_max_window_bits") = 15,
        py::arg("client_max_window_bits") = 15, py::arg("server_no_context_takeover") = false,
        py::arg("client_no_context_takeover") = false, py::arg("mem_level") = 8,
        py::arg("compression_level") = 1, py::arg("min_size") = 0,
        "Sec-WebSocket-Extensions request value -> (accepted, response header value, params dict).");
}
